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
      "<Contents><Key>repo/index/a&amp;b</Key><LastModified>2026-11-24T10:00:00.000Z"
      "</LastModified><ETag>&quot;9a0364b9e99bb480dd25e1f0284c8555&quot;</ETag><Size>3</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>repo/index/&#x3bb;&#955;&lt;&gt;&quot;&apos;</Key><Size>17179869184</Size>"
      "</Contents></ListBucketResult>";
  auto page = ParseListPage(xml);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->objects, (std::vector<ListedKey>{
                               {"repo/index/a&b", 3},
                               {"repo/index/\xce\xbb\xce\xbb<>\"'", uint64_t{16} << 30},
                           }));
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3Xml, LastPageAndEmptyListing) {
  auto page = ParseListPage(
      "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_FALSE(page->truncated);
}

TEST(S3Xml, MalformedListingsAreRefused) {
  EXPECT_TRUE(ParseListPage("<Error><Code>NoSuchBucket</Code></Error>").error().IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><IsTruncated>true</IsTruncated>"
                            "</ListBucketResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Contents><Key>abc").error().IsCorruption());
  // Every object needs its key and a size that is a number.
  for (const char* contents :
       {"<Key>a</Key>", "<Key>a</Key><Size></Size>", "<Key>a</Key><Size>-1</Size>",
        "<Key>a</Key><Size>1x</Size>", "<Key>a</Key><Size>99999999999999999999</Size>",
        "<Size>1</Size>", "<Key></Key><Size>1</Size>"}) {
    auto page = ParseListPage(std::string("<ListBucketResult><Contents>") + contents +
                              "</Contents></ListBucketResult>");
    ASSERT_FALSE(page.has_value()) << contents;
    EXPECT_TRUE(page.error().IsCorruption()) << contents;
  }
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></"
                            "Contents></ListBucketResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(
      ParseListPage(
          "<ListBucketResult><Contents><Key>&#0;</Key><Size>1</Size></Contents></ListBucketResult>")
          .error()
          .IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Contents><Key>&#xD800;</Key><Size>1</Size></"
                            "Contents></ListBucketResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParseListPage("<ListBucketResult><Contents><Key>a & "
                            "b</Key><Size>1</Size></Contents></ListBucketResult>")
                  .error()
                  .IsCorruption());
}

// Shaped like AWS's ListMultipartUploads answer (radosgw's has the same elements).
TEST(S3Xml, UploadsPageKeysIdsAndMarkers) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><KeyMarker/>"
      "<UploadIdMarker/><NextKeyMarker>p/data/ab/c&amp;d</NextKeyMarker>"
      "<NextUploadIdMarker>2~xyz</NextUploadIdMarker><MaxUploads>2</MaxUploads>"
      "<IsTruncated>true</IsTruncated>"
      "<Upload><Key>p/data/ab/one</Key><UploadId>2~abc</UploadId><Initiator><ID>u</ID>"
      "</Initiator><StorageClass>STANDARD</StorageClass>"
      "<Initiated>2026-11-24T03:00:00.000Z</Initiated></Upload>"
      "<Upload><Key>p/data/ab/c&amp;d</Key><UploadId>2~xyz</UploadId>"
      "<Initiated>2026-11-24T04:00:00.000Z</Initiated></Upload></ListMultipartUploadsResult>";
  auto page = ParseUploadsPage(xml);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  ASSERT_EQ(page->uploads.size(), 2u);
  EXPECT_EQ(page->uploads[0].key, "p/data/ab/one");
  EXPECT_EQ(page->uploads[0].upload_id, "2~abc");
  EXPECT_EQ(page->uploads[0].initiated, "2026-11-24T03:00:00.000Z");
  EXPECT_EQ(page->uploads[1].key, "p/data/ab/c&d");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_key_marker, "p/data/ab/c&d");
  EXPECT_EQ(page->next_upload_id_marker, "2~xyz");

  auto none = ParseUploadsPage(
      "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->uploads.empty());
  EXPECT_FALSE(none->truncated);
}

TEST(S3Xml, MalformedUploadsPagesAreRefused) {
  // s3rver answers NotImplemented; an object listing is not an upload listing either.
  EXPECT_TRUE(
      ParseUploadsPage("<Error><Code>NotImplemented</Code></Error>").error().IsCorruption());
  EXPECT_TRUE(
      ParseUploadsPage("<ListBucketResult><Key>a</Key></ListBucketResult>").error().IsCorruption());
  EXPECT_TRUE(ParseUploadsPage("<ListMultipartUploadsResult><Upload><Key>a</Key></Upload>"
                               "</ListMultipartUploadsResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParseUploadsPage("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
                               "</ListMultipartUploadsResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(
      ParseUploadsPage("<ListMultipartUploadsResult><Upload><Key>a</Key>").error().IsCorruption());
}

TEST(S3Xml, PartsPageAddsSizes) {
  auto page = ParsePartsPage(
      "<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>"
      "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>"
      "<MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>"
      "<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag><Size>8388608</Size></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><Size>100</Size></Part>"
      "</ListPartsResult>");
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->bytes, 8388708u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_part_marker, "2");
  EXPECT_TRUE(ParsePartsPage("<ListPartsResult><Part><Size>-1</Size></Part></ListPartsResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParsePartsPage("<ListPartsResult><Part><Size>12x</Size></Part></ListPartsResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParsePartsPage("<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>")
                  .error()
                  .IsCorruption());
  EXPECT_TRUE(ParsePartsPage("<Error/>").error().IsCorruption());
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

TEST(S3Xml, DeleteObjectsRequestsAndTheirResults) {
  const std::string body = DeleteObjectsXml({"p/data/aa/1", "p/locks/a&b<c>"});
  EXPECT_NE(body.find("<Quiet>true</Quiet>"), std::string::npos);
  EXPECT_EQ(XmlElements(body, "Key").value(),
            (std::vector<std::string>{"p/data/aa/1", "p/locks/a&b<c>"}));
  // Quiet answers list only failures; s3rver lists what it deleted as well.
  auto none = ParseDeleteResult(
      "<?xml version=\"1.0\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Deleted><Key>p/data/aa/1</Key></Deleted></DeleteResult>");
  ASSERT_TRUE(none.has_value()) << none.error().ToString();
  EXPECT_TRUE(none->empty());
  auto some = ParseDeleteResult(
      "<DeleteResult><Error><Key>p/x&amp;y</Key><Code>AccessDenied</Code><Message>Access "
      "Denied</Message></Error><Error><Key>p/z</Key><Code>InternalError</Code></Error>"
      "</DeleteResult>");
  ASSERT_TRUE(some.has_value()) << some.error().ToString();
  ASSERT_EQ(some->size(), 2u);
  EXPECT_EQ((*some)[0].key, "p/x&y");
  EXPECT_EQ((*some)[0].code, "AccessDenied");
  EXPECT_EQ((*some)[0].message, "Access Denied");
  EXPECT_EQ((*some)[1].message, "");
  EXPECT_FALSE(ParseDeleteResult("<Error><Code>MalformedXML</Code></Error>").has_value());
  EXPECT_FALSE(
      ParseDeleteResult("<DeleteResult><Error><Code>X</Code></Error></DeleteResult>").has_value());
  EXPECT_FALSE(ParseDeleteResult("<DeleteResult><Error><Key>unterminated").has_value());
}

}  // namespace
}  // namespace ferry::s3
