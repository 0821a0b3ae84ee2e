// S3 Object Lock against Ceph's radosgw (tests/servers/with_rgw.sh), the real server we have
// that implements it: retention on every object that is not exempt, removal that refuses while
// an object is retained and really deletes (the version, not a delete marker) once it is not,
// extension, and a clear refusal on a bucket created without Object Lock.
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"
#include "transports/s3/rgw_test_transport.h"
#include "transports/s3/s3_transport.h"

namespace ferry::s3 {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using std::chrono::system_clock;

class ObjectLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("FERRY_RGW_ENDPOINT") == nullptr) {
      GTEST_SKIP() << "no Object Lock test server: run through tests/servers/with_rgw.sh";
    }
  }

  static std::unique_ptr<S3Transport> Open(const char* bucket_variable) {
    return OpenRgwTransport(bucket_variable, "locktest-" + std::to_string(std::random_device{}()));
  }

  static ObjectLockPolicy Policy(ObjectLockPolicy::Mode mode, seconds period) {
    return {.mode = mode, .period = period, .exempt_prefixes = {"locks/", "index/"}};
  }

  // Versions and delete markers the bucket still holds under `name`.
  static std::string VersionsOf(S3Transport& t, const std::string& name) {
    auto r = t.Execute({.method = "GET", .query = {{"versions", ""}, {"prefix", t.KeyOf(name)}}});
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << r->body;
    std::string found;
    for (const char* tag : {"<Version>", "<DeleteMarker>"}) {
      if (r->body.find(tag) != std::string::npos) found += tag;
    }
    return found;
  }

  static void ExpectNear(SystemTime actual, SystemTime expected) {
    EXPECT_LT(std::chrono::abs(actual - expected), seconds(120))
        << "retained until " << std::chrono::duration_cast<seconds>(actual - expected).count()
        << " s off";
  }
};

TEST_F(ObjectLockTest, ABucketWithoutObjectLockIsRefusedClearly) {
  auto t = Open("FERRY_RGW_PLAIN_BUCKET");
  const Status s = t->SetObjectLockPolicy(Policy(ObjectLockPolicy::Mode::kCompliance, hours(24)));
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_NE(s.message().find("does not have Object Lock enabled"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(std::getenv("FERRY_RGW_PLAIN_BUCKET")), std::string::npos);
  EXPECT_FALSE(t->capabilities().object_lock);
  const Status zero =
      t->SetObjectLockPolicy(Policy(ObjectLockPolicy::Mode::kCompliance, seconds(0)));
  EXPECT_TRUE(zero.IsInvalidArgument()) << zero.ToString();
}

TEST_F(ObjectLockTest, NewObjectsAreRetainedAndRemovalRefuses) {
  auto t = Open("FERRY_RGW_LOCKED_BUCKET");
  ASSERT_TRUE(t->SetObjectLockPolicy(Policy(ObjectLockPolicy::Mode::kCompliance, hours(24))).ok());
  EXPECT_TRUE(t->capabilities().object_lock);
  const std::string data = testing::RandomBytes(100'000, 3);
  ASSERT_TRUE(t->Put("data/ab/ab01", AsBytes(data)).ok());
  const auto until = t->RetainedUntil("data/ab/ab01");
  ASSERT_TRUE(until.has_value()) << until.error().ToString();
  ExpectNear(*until, system_clock::now() + hours(24));

  const Status removed = t->Remove("data/ab/ab01");
  EXPECT_EQ(removed.code(), Status::Code::kPermissionDenied) << removed.ToString();
  EXPECT_NE(removed.message().find("under Object Lock (COMPLIANCE) until"), std::string::npos)
      << removed.message();
  EXPECT_EQ(t->Get("data/ab/ab01").value(), data);
  // The server itself enforces it: a DELETE of the version, sent around our own check, fails.
  auto head = t->Execute({.method = "HEAD", .key = t->KeyOf("data/ab/ab01")});
  ASSERT_TRUE(head.has_value());
  auto raw = t->Execute({.method = "DELETE",
                         .key = t->KeyOf("data/ab/ab01"),
                         .query = {{"versionId", std::string(head->Header("x-amz-version-id"))}}});
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->status, 403) << raw->body;
  EXPECT_EQ(t->Get("data/ab/ab01").value(), data);

  // Exempt names carry no retention, and removing one leaves no version behind.
  ASSERT_TRUE(t->Put("locks/mine", AsBytes("lock")).ok());
  EXPECT_EQ(t->RetainedUntil("locks/mine").value(), SystemTime{});
  ASSERT_TRUE(t->Remove("locks/mine").ok());
  EXPECT_TRUE(t->Get("locks/mine").error().IsNotFound());
  EXPECT_EQ(VersionsOf(*t, "locks/mine"), "");
  EXPECT_TRUE(t->Remove("locks/mine").ok());  // Deleting what does not exist succeeds.
}

TEST_F(ObjectLockTest, MultipartUploadsAreRetainedToo) {
  auto t = Open("FERRY_RGW_LOCKED_BUCKET");
  ASSERT_TRUE(t->SetObjectLockPolicy(Policy(ObjectLockPolicy::Mode::kCompliance, hours(48))).ok());
  const std::string data = testing::RandomBytes(11u << 20, 4);
  auto w = t->Create("data/cd/cd01");
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE((*w)->Append(AsBytes(data)).ok());
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ(t->Get("data/cd/cd01").value(), data);
  ExpectNear(t->RetainedUntil("data/cd/cd01").value(), system_clock::now() + hours(48));
}

TEST_F(ObjectLockTest, RetentionExtendsButNeverShortens) {
  auto t = Open("FERRY_RGW_LOCKED_BUCKET");
  ASSERT_TRUE(
      t->SetObjectLockPolicy(Policy(ObjectLockPolicy::Mode::kGovernance, seconds(600))).ok());
  ASSERT_TRUE(t->Put("snapshots/s1", AsBytes("snapshot")).ok());
  ExpectNear(t->RetainedUntil("snapshots/s1").value(), system_clock::now() + seconds(600));
  const SystemTime later = system_clock::now() + hours(30);
  const Status extended = t->ExtendRetention("snapshots/s1", later);
  ASSERT_TRUE(extended.ok()) << extended.ToString();
  ExpectNear(t->RetainedUntil("snapshots/s1").value(), later);
  // Shortening is the server's to refuse, and it does.
  EXPECT_FALSE(t->ExtendRetention("snapshots/s1", system_clock::now() + seconds(60)).ok());
  ExpectNear(t->RetainedUntil("snapshots/s1").value(), later);
  EXPECT_TRUE(t->ExtendRetention("snapshots/none", later).IsNotFound());
}

TEST_F(ObjectLockTest, AnExpiredObjectIsReallyDeleted) {
  auto t = Open("FERRY_RGW_LOCKED_BUCKET");
  ASSERT_TRUE(t->SetObjectLockPolicy(Policy(ObjectLockPolicy::Mode::kGovernance, seconds(2))).ok());
  ASSERT_TRUE(t->Put("data/ef/ef01", AsBytes("short-lived")).ok());
  EXPECT_EQ(t->Remove("data/ef/ef01").code(), Status::Code::kPermissionDenied);
  std::this_thread::sleep_for(seconds(4));
  const Status removed = t->Remove("data/ef/ef01");
  ASSERT_TRUE(removed.ok()) << removed.ToString();
  EXPECT_TRUE(t->Get("data/ef/ef01").error().IsNotFound());
  EXPECT_EQ(VersionsOf(*t, "data/ef/ef01"), "");
}

}  // namespace
}  // namespace ferry::s3
