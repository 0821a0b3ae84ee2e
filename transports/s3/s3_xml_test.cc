#include "transports/s3/s3_xml.h"

#include <gtest/gtest.h>

namespace ferry::s3 {
namespace {

TEST(S3Xml, ListPageKeysTruncationAndToken) {
  const std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>repo/index/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36"
      "Hy4vbOwM=</NextContinuationToken>"
      "<Contents><Key>repo/index/a&amp;b</Key><Size>3</Size></Contents>"
      "<Contents><Key>repo/index/&#x3bb;&#955;&lt;&gt;&quot;&apos;</Key></Contents>"
      "</ListBucketResult>";
  auto page = ParseListPage(xml);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->keys,
            (std::vector<std::string>{"repo/index/a&b", "repo/index/\xce\xbb\xce\xbb<>\"'"}));
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3Xml, LastPageAndEmptyListing) {
  auto page = ParseListPage(
      "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->keys.empty());
  EXPECT_FALSE(page->truncated);
}

TEST(S3Xml, MalformedListingsAreRefused) {
  EXPECT_TRUE(ParseListPage("<Error><Code>NoSuchBucket</Code></Error>").error().IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><IsTruncated>true</IsTruncated>"
                            "</ListBucketResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Key>abc").error().IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Key>a&bogus;</Key></ListBucketResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(
      ParseListPage("<ListBucketResult><Key>&#0;</Key></ListBucketResult>").error().IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Key>&#xD800;</Key></ListBucketResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Key>a & b</Key></ListBucketResult>")
                  .error()
                  .IsCorruption());
}

TEST(S3Xml, ErrorBodies) {
  const ErrorBody e = ParseErrorBody(
      "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request "
      "signature we calculated does not match</Message><RequestId>x</RequestId></Error>");
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message, "The request signature we calculated does not match");
  EXPECT_EQ(ParseErrorBody("<html>502 Bad Gateway</html>").code, "");
  EXPECT_EQ(ParseErrorBody("").code, "");
}

TEST(S3Xml, CompleteMultipartEscapesETags) {
  EXPECT_EQ(CompleteMultipartXml({{1, "\"abc\"", "q83v"}, {2, "\"d&e\"", ""}}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag>"
            "<ChecksumSHA256>q83v</ChecksumSHA256></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;d&amp;e&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

}  // namespace
}  // namespace ferry::s3
