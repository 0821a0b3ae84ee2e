// The S3 transport against the test server (tests/servers/with_s3.sh): errors that must be
// final and clear, faults that must be survived, and a front end that really checks what we
// send (else the other tests would prove nothing about signing).
#include "transports/s3/s3_transport.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/testutil/testutil.h"
#include "transports/lost_answer_checks.h"
#include "transports/s3/credentials.h"

namespace ferry::s3 {
namespace {

class S3TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* endpoint = std::getenv("FERRY_S3_ENDPOINT");
    if (endpoint == nullptr) GTEST_SKIP() << "no S3 test server: run through with_s3.sh";
    where_ = {.bucket = std::getenv("FERRY_S3_BUCKET"),
              .prefix = "s3test-" + std::to_string(std::random_device{}()),
              .endpoint = endpoint,
              .region = "us-east-1",
              .path_style = true};
    credentials_ = LoadCredentials([](const char* n) { return std::getenv(n); }).value();
  }

  // Requests the front end has seen so far (its stats file).
  static int FrontRequests(const std::string& name) {
    std::ifstream in(std::string(std::getenv("FERRY_S3_STATE")) + "/" + name + "-stats.json");
    if (!in) return 0;
    return nlohmann::json::parse(in).value("requests", 0);
  }
  static nlohmann::json FrontStats(const std::string& name) {
    std::ifstream in(std::string(std::getenv("FERRY_S3_STATE")) + "/" + name + "-stats.json");
    return in ? nlohmann::json::parse(in) : nlohmann::json::object();
  }

  // Options that send anything over 5 MiB in 5 MiB parts (S3's smallest), so tests can make
  // multipart uploads of a few parts.
  static S3Options SmallParts() {
    S3Options o;
    o.multipart_threshold = 5u << 20;
    o.part_size = 5u << 20;
    return o;
  }

  // Opens the test prefix through the front end whose endpoint is in `endpoint_variable`.
  Result<std::unique_ptr<S3Transport>> OpenThrough(const char* endpoint_variable,
                                                   const S3Options& options) {
    const char* endpoint = std::getenv(endpoint_variable);
    if (endpoint == nullptr)
      return Err(Status::NotFound(std::string(endpoint_variable) + " unset"));
    where_.endpoint = endpoint;
    return S3Transport::Open(where_, credentials_, options);
  }

  S3Location where_;
  Credentials credentials_;
};

TEST_F(S3TransportTest, RemovingManyTakesARequestPerBatch) {
  S3Options options;
  options.delete_batch = 10;
  auto t = S3Transport::Open(where_, credentials_, options);
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  std::vector<std::string> names;
  for (int i = 0; i < 25; ++i) {
    names.push_back("data/" + std::to_string(i));
    ASSERT_TRUE((*t)->Put(names.back(), AsBytes("p")).ok());
  }
  const uint64_t before = (*t)->requests(), retried = (*t)->retries();
  Status removed = (*t)->RemoveMany(names);
  ASSERT_TRUE(removed.ok()) << removed.ToString();
  // s3rver fails a request now and then when two deletes empty one directory at once (its
  // clean-up races); the retry that follows is not a batch of its own.
  EXPECT_EQ((*t)->requests() - before - ((*t)->retries() - retried), 3u)
      << "25 names, 10 a request";
  EXPECT_TRUE((*t)->List("data").value().empty());
}

TEST_F(S3TransportTest, AWrongSecretFailsAtOnceNamingTheProblem) {
  Credentials wrong = credentials_;
  wrong.secret_access_key[0] ^= 1;
  const int before = FrontRequests("front");
  const auto start = std::chrono::steady_clock::now();
  auto t = S3Transport::Open(where_, wrong);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code(), Status::Code::kPermissionDenied) << t.error().ToString();
  EXPECT_NE(t.error().message().find("SignatureDoesNotMatch"), std::string::npos)
      << t.error().message();
  EXPECT_NE(t.error().message().find("secret key"), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find("s3://ferry-test/" + where_.prefix), std::string::npos)
      << t.error().message();
  EXPECT_EQ(FrontRequests("front") - before, 1) << "an authentication error was retried";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// s3rver answers ListMultipartUploads with 501 NotImplemented: that is a fact about the server,
// said at once (prune passes it on), not a failure to retry.
TEST_F(S3TransportTest, AServerThatCannotListUploadsSaysSoAtOnce) {
  auto t = S3Transport::Open(where_, credentials_);
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  const uint64_t before = (*t)->requests();
  auto leftovers = (*t)->ListLeftovers();
  ASSERT_FALSE(leftovers.has_value());
  EXPECT_TRUE(leftovers.error().IsNotSupported()) << leftovers.error().ToString();
  EXPECT_NE(leftovers.error().message().find("does not list unfinished multipart uploads"),
            std::string::npos)
      << leftovers.error().message();
  EXPECT_NE(leftovers.error().message().find(where_.endpoint), std::string::npos);
  EXPECT_EQ((*t)->requests() - before, 1u) << "no retries";
}

TEST_F(S3TransportTest, AnUnknownAccessKeyIsNamed) {
  Credentials wrong = credentials_;
  wrong.access_key_id = "AKIDNOTKNOWNHERE";
  auto t = S3Transport::Open(where_, wrong);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(t.error().message().find("InvalidAccessKeyId"), std::string::npos)
      << t.error().message();
}

TEST_F(S3TransportTest, AMissingBucketIsNamed) {
  where_.bucket = "no-such-bucket";
  auto t = S3Transport::Open(where_, credentials_);
  ASSERT_FALSE(t.has_value());
  EXPECT_TRUE(t.error().IsNotFound()) << t.error().ToString();
  EXPECT_NE(t.error().message().find("create bucket 'no-such-bucket' first"), std::string::npos)
      << t.error().message();
}

TEST_F(S3TransportTest, AnUnreachableServerIsNamed) {
  // A port nobody listens on: bind one, close it.
  where_.endpoint = "http://127.0.0.1:9";
  S3Options o;
  o.max_attempts = 2;
  auto t = S3Transport::Open(where_, credentials_, o);
  ASSERT_FALSE(t.has_value());
  EXPECT_TRUE(t.error().IsRetryable()) << t.error().ToString();
  EXPECT_NE(t.error().message().find("cannot reach s3://ferry-test/"), std::string::npos)
      << t.error().message();
  EXPECT_NE(t.error().message().find("http://127.0.0.1:9"), std::string::npos)
      << t.error().message();
}

TEST_F(S3TransportTest, TheFrontEndRejectsABodyThatDoesNotMatchItsSignedDigest) {
  // Proof that the server in these tests checks payloads: sign one body, send another.
  auto t = S3Transport::Open(where_, credentials_).value();
  const std::string signed_body = "the body that was signed";
  const std::string sent_body = "the body that was sent!!";
  auto r = t->Execute({.method = "PUT",
                       .key = t->KeyOf("tampered"),
                       .body = AsBytes(sent_body),
                       .body_sha256 = Sha256Hex(signed_body)});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("XAmzContentSHA256Mismatch"), std::string::npos) << r->body;
  EXPECT_TRUE(t->Size("tampered").error().IsNotFound());
}

TEST_F(S3TransportTest, ObjectsWrittenOneAfterAnotherReuseOneUploadBuffer) {
  // Each pack of a backup is a written object; a fresh pack-sized buffer for each costs a page
  // fault per page and, grown by appends, copies of the whole pack.
  auto t = S3Transport::Open(where_, credentials_).value();
  for (unsigned i = 0; i < 4; ++i) {
    const std::string data = testing::RandomBytes(3u << 20, i);
    auto writer = t->Create("data/pack-" + std::to_string(i), 4u << 20).value();
    for (size_t at = 0; at < data.size(); at += 65536) {
      ASSERT_TRUE(writer->Append(AsBytes(std::string_view(data).substr(at, 65536))).ok());
    }
    ASSERT_TRUE(writer->Commit().ok());
    writer.reset();
    EXPECT_EQ(t->Get("data/pack-" + std::to_string(i)).value(), data);
  }
  EXPECT_EQ(t->buffers_allocated(), 1u);

  // A multipart upload hands its last part's buffer to the request: nothing small is pooled in
  // its place, and the next objects still find a full-sized buffer.
  auto m = S3Transport::Open(where_, credentials_, SmallParts()).value();
  uint64_t after_first = 0;
  for (unsigned i = 0; i < 3; ++i) {
    const std::string data = testing::RandomBytes(12u << 20, 10 + i);
    auto writer = m->Create("data/big-" + std::to_string(i)).value();
    for (size_t at = 0; at < data.size(); at += 1u << 20) {
      ASSERT_TRUE(writer->Append(AsBytes(std::string_view(data).substr(at, 1u << 20))).ok());
    }
    ASSERT_TRUE(writer->Commit().ok());
    writer.reset();
    EXPECT_EQ(m->Get("data/big-" + std::to_string(i)).value(), data);
    if (i == 0) after_first = m->buffers_allocated();
  }
  // One per part of the first upload (three), none afterwards.
  EXPECT_EQ(after_first, 3u);
  EXPECT_EQ(m->buffers_allocated(), after_first);
}

TEST_F(S3TransportTest, RetriesRideOutAFaultyServer) {
  S3Options o = SmallParts();
  o.max_attempts = 10;
  auto opened = OpenThrough("FERRY_S3_FAULTY_ENDPOINT", o);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  auto& t = **opened;
  constexpr unsigned kObjects = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (unsigned w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (unsigned i = w; i < kObjects; i += 4) {
        const std::string data = testing::RandomBytes(i == 0 ? (11u << 20) : 50'000u + i, i);
        Status s;
        if (i % 3 == 0) {
          auto writer = t.Create("data/" + std::to_string(i));
          s = writer.has_value() ? (*writer)->Append(AsBytes(data)) : writer.error();
          if (s.ok()) s = (*writer)->Commit();
        } else {
          s = t.Put("data/" + std::to_string(i), AsBytes(data));
        }
        if (!s.ok()) {
          ADD_FAILURE() << s.ToString();
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  for (unsigned i = 0; i < kObjects; ++i) {
    const std::string data = testing::RandomBytes(i == 0 ? (11u << 20) : 50'000u + i, i);
    EXPECT_EQ(t.Get("data/" + std::to_string(i)).value(), data) << i;
    std::string part(1000, '\0');
    ASSERT_EQ(t.ReadAt("data/" + std::to_string(i), 7,
                       {reinterpret_cast<std::byte*>(part.data()), part.size()})
                  .value(),
              part.size());
    EXPECT_EQ(part, data.substr(7, 1000)) << i;
  }
  EXPECT_EQ(t.List("data").value().size(), static_cast<size_t>(kObjects));
  const auto stats = FrontStats("faulty");
  EXPECT_GT(stats.value("fail", 0) + stats.value("slowdown", 0), 0) << stats.dump();
  EXPECT_GT(stats.value("reset", 0), 0) << stats.dump();
  EXPECT_GT(stats.value("lost", 0), 0) << stats.dump();
  EXPECT_GT(t.retries(), 0u);
}

// The lossy front end carries out every publication but loses its first answer, so each is
// sent again after it took effect: the second sending of a create-if-absent PUT meets its own
// object (412), and of a CompleteMultipartUpload finds the upload gone (404 NoSuchUpload).
// Both are the success the first sending was.
TEST_F(S3TransportTest, APublicationWhoseAnswerWasLostStillSucceeds) {
  auto opened = OpenThrough("FERRY_S3_LOSSY_ENDPOINT", SmallParts());
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  auto& t = **opened;
  const auto before = FrontStats("lossy");

  testing::ExpectCreateIfAbsentSurvivesLostAnswers(t);

  const std::string big = testing::RandomBytes(12u << 20, 3);
  auto writer = t.Create("data/big").value();
  ASSERT_TRUE(writer->Append(AsBytes(big)).ok());
  const Status committed = writer->Commit();
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  writer.reset();
  EXPECT_EQ(t.Get("data/big").value(), big);

  const auto after = FrontStats("lossy");
  // The config, the multipart completion (the refused puts stop at their existence check).
  EXPECT_GE(after.value("lost", 0) - before.value("lost", 0), 2) << after.dump();
  EXPECT_GE(after.value("precondition_failed", 0) - before.value("precondition_failed", 0), 1)
      << after.dump();
}

}  // namespace
}  // namespace ferry::s3
