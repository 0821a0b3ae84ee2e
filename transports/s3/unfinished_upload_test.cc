// Unfinished multipart uploads against Ceph's radosgw (tests/servers/with_rgw.sh), which lists
// and aborts them as AWS does: ListLeftovers finds the uploads under the prefix, with their
// parts' bytes and ages, across pages; RemoveLeftover aborts them and tolerates one already gone;
// objects, and uploads outside the prefix, are left alone; a writer destroyed before its commit
// leaves no upload behind. (s3rver implements none of this: s3_transport_test.cc checks that
// the listing then says so at once.)
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "transports/s3/rgw_test_transport.h"
#include "transports/s3/s3_transport.h"
#include "transports/s3/s3_xml.h"

namespace ferry::s3 {
namespace {

class UnfinishedUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("FERRY_RGW_ENDPOINT") == nullptr) {
      GTEST_SKIP() << "no radosgw: run through tests/servers/with_rgw.sh";
    }
  }

  // The plain bucket under a fresh prefix; listings one upload (and one part) per page.
  static std::unique_ptr<S3Transport> Open(const std::string& prefix) {
    S3Options o;
    o.list_page_size = 1;
    return OpenRgwTransport("FERRY_RGW_PLAIN_BUCKET", prefix, o);
  }

  static std::string FreshPrefix() { return "uploads-" + std::to_string(std::random_device{}()); }

  // Starts an upload of `name` and sends parts of the given sizes, as a writer killed before
  // its commit would have; returns the upload id.
  static std::string StartUpload(S3Transport& t, const std::string& name,
                                 std::initializer_list<size_t> part_sizes) {
    auto r = t.Execute({.method = "POST", .key = t.KeyOf(name), .query = {{"uploads", ""}}});
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << r->body;
    const std::string id = XmlElement(r->body, "UploadId").value();
    unsigned number = 0;
    for (size_t size : part_sizes) {
      const std::string body(size, 'p');
      auto part = t.Execute({.method = "PUT",
                             .key = t.KeyOf(name),
                             .query = {{"partNumber", std::to_string(++number)}, {"uploadId", id}},
                             .body = AsBytes(body)});
      EXPECT_TRUE(part.has_value());
      EXPECT_EQ(part->status, 200) << part->body;
    }
    return id;
  }
};

TEST_F(UnfinishedUploadTest, AreListedWithTheirBytesAndAborted) {
  const std::string prefix = FreshPrefix();
  auto t = Open(prefix);
  auto outside = Open(prefix + "-other");
  ASSERT_TRUE(t->Put("data/ab/finished", AsBytes("published")).ok());
  const std::string pack = StartUpload(*t, "data/ab/pack", {1000, 2000, 3});
  const std::string index = StartUpload(*t, "index/x", {123});
  const std::string other = StartUpload(*outside, "data/ab/pack", {10});

  auto found = t->ListLeftovers();
  ASSERT_TRUE(found.has_value()) << found.error().ToString();
  ASSERT_EQ(found->size(), 2u);  // Over two pages of one, parts over three pages.
  EXPECT_EQ((*found)[0].name, "data/ab/pack");
  EXPECT_EQ((*found)[0].upload_id, pack);
  EXPECT_EQ((*found)[0].size, 3003u);
  EXPECT_EQ((*found)[1].name, "index/x");
  EXPECT_EQ((*found)[1].upload_id, index);
  EXPECT_EQ((*found)[1].size, 123u);
  for (const LeftoverTemporary& l : *found) {
    EXPECT_GE(l.age.count(), 0);
    EXPECT_LT(l.age.count(), 600) << "the server's clock and ours disagree";
  }

  for (const LeftoverTemporary& l : *found) {
    const Status s = t->RemoveLeftover(l);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  auto after = t->ListLeftovers();
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  EXPECT_TRUE(after->empty());
  const Status again = t->RemoveLeftover(found->front());
  EXPECT_TRUE(again.ok()) << "aborting an upload already gone: " << again.ToString();
  EXPECT_EQ(t->Get("data/ab/finished").value(), "published");

  auto theirs = outside->ListLeftovers();
  ASSERT_TRUE(theirs.has_value()) << theirs.error().ToString();
  ASSERT_EQ(theirs->size(), 1u);
  EXPECT_EQ(theirs->front().upload_id, other);
  EXPECT_TRUE(outside->RemoveLeftover(theirs->front()).ok());
  (void)t->Remove("data/ab/finished");
}

TEST_F(UnfinishedUploadTest, AWriterDestroyedBeforeItsCommitLeavesNone) {
  auto t = Open(FreshPrefix());
  {
    auto writer = t->Create("data/cd/pack", 12u << 20);
    ASSERT_TRUE(writer.has_value());
    const std::string part(6u << 20, 'w');  // Past the threshold: a multipart upload began.
    ASSERT_TRUE((*writer)->Append(AsBytes(part)).ok());
    auto listed = t->ListLeftovers();
    ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
    EXPECT_EQ(listed->size(), 1u) << "the upload is under way";
  }
  auto after = t->ListLeftovers();
  ASSERT_TRUE(after.has_value()) << after.error().ToString();
  EXPECT_TRUE(after->empty()) << "the writer's destructor aborts its upload";
  EXPECT_TRUE(t->List("data").value().empty());
}

}  // namespace
}  // namespace ferry::s3
