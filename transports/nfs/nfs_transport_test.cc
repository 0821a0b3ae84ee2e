// The NFS transport's own behaviour beyond the conformance suite, against nfs-ganesha started by
// tests/servers/with_nfs.sh (skipped without it).
#include "transports/nfs/nfs_transport.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/testutil/testutil.h"
#include "transports/lost_answer_checks.h"
#include "transports/uri.h"

namespace ferry::nfs {
namespace {

// The proxy's counters (tests/servers/nfs_lossy_proxy.py).
nlohmann::json LossyStats() {
  std::ifstream in(std::getenv("FERRY_NFS_LOSSY_STATS"));
  return in ? nlohmann::json::parse(in) : nlohmann::json::object();
}

// The export at `uri`/`prefix`, opened with `options`.
std::unique_ptr<NfsTransport> OpenAt(const std::string& uri, const std::string& prefix, bool create,
                                     const NfsOptions& options = {}) {
  auto parsed = ParseTransportUri(uri + "/" + prefix);
  EXPECT_TRUE(parsed.has_value()) << parsed.error().ToString();
  if (!parsed) return nullptr;
  auto opened = NfsTransport::Open(parsed->nfs, create, options);
  EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
  return opened ? std::move(*opened) : nullptr;
}

// The most calls, or READs (`what`: "all" or "READ"), that one of the connections the proxy
// accepted after `before` had in flight at once.
int MostInFlightSince(const nlohmann::json& before, const std::string& what) {
  const auto after = LossyStats();
  int most = 0;
  for (int n = before.value("connections", 0) + 1; n <= after.value("connections", 0); ++n) {
    const auto& in_flight = after["in_flight"];
    if (in_flight.contains(std::to_string(n))) {
      most = std::max(most, in_flight[std::to_string(n)].value(what, 0));
    }
  }
  return most;
}

// Each test has a directory of its own on the export, reached directly or through the proxy.
class NfsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    direct_ = std::getenv("FERRY_NFS_URI");
    lossy_ = std::getenv("FERRY_NFS_LOSSY_URI");
    if (direct_ == nullptr || lossy_ == nullptr) {
      GTEST_SKIP() << "no NFS test server: run through tests/servers/with_nfs.sh";
    }
    prefix_ = fmt::format("t-{:x}", std::random_device{}());
  }
  std::unique_ptr<NfsTransport> Direct() { return OpenAt(direct_, prefix_, /*create=*/true); }
  // Through the proxy, which loses answers to calls that change the namespace and counts each
  // connection's calls in flight.
  std::unique_ptr<NfsTransport> ThroughProxy(const NfsOptions& options = {}) {
    return OpenAt(lossy_, prefix_, /*create=*/true, options);
  }

 private:
  const char* direct_ = nullptr;
  const char* lossy_ = nullptr;
  std::string prefix_;
};

// A LINK or RENAME whose answer was lost was done by the server; libnfs sends it again on a new
// connection and ganesha, not recognising the resend, fails it: EEXIST for the link, NOENT for
// the rename. The publication must still succeed, and a real conflict must still be refused.
TEST_F(NfsTransportTest, APublicationWhoseAnswerWasLostStillSucceeds) {
  auto opened = ThroughProxy();
  ASSERT_NE(opened, nullptr);
  auto& t = *opened;
  const auto before = LossyStats();

  // The refused puts' LINKs lose their (EEXIST) answer as well, and meet another file.
  testing::ExpectCreateIfAbsentSurvivesLostAnswers(t);

  const std::string first = testing::RandomBytes(1u << 20, 3);
  const std::string second = testing::RandomBytes(100'000, 4);
  Status put = t.Put("data/ab/object", AsBytes(first));
  ASSERT_TRUE(put.ok()) << put.ToString();
  put = t.Put("data/ab/object", AsBytes(second));  // A rename that replaces.
  ASSERT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(t.Get("data/ab/object").value(), second);

  // Nothing else appeared, and no temporary is left behind.
  EXPECT_EQ(t.List("").value(), (std::vector<std::string>{"config", "data/ab/object"}));
  auto leftovers = t.ListLeftovers();
  ASSERT_TRUE(leftovers.has_value()) << leftovers.error().ToString();
  EXPECT_TRUE(leftovers->empty()) << leftovers->front().name;
  // Three links (one that worked, two refused) and two renames had their answers lost; the
  // proxy also loses those of the creates, directories and removes around them.
  const auto after = LossyStats();
  EXPECT_EQ(after.value("lost_LINK", 0) - before.value("lost_LINK", 0), 3) << after.dump();
  EXPECT_EQ(after.value("lost_RENAME", 0) - before.value("lost_RENAME", 0), 2) << after.dump();
}

// Calls go through libnfs' asynchronous API: the operations of many threads share a connection
// with their calls in flight together, rather than taking turns with it.
TEST_F(NfsTransportTest, ManyThreadsShareOneConnectionWithCallsInFlightTogether) {
  auto writer = Direct();
  ASSERT_NE(writer, nullptr);
  constexpr int kThreads = 8;
  std::vector<std::string> objects;
  for (int i = 0; i < kThreads; ++i) {
    objects.push_back(testing::RandomBytes(64u << 10, static_cast<uint64_t>(i)));
    ASSERT_TRUE(writer->Put(fmt::format("data/o{}", i), AsBytes(objects.back())).ok());
  }

  // Reads lose nothing through the proxy.
  const auto before = LossyStats();
  auto reader = ThroughProxy({.connections = 1});
  ASSERT_NE(reader, nullptr);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 20; ++round) {
        auto got = reader->Get(fmt::format("data/o{}", i));
        if (!got || *got != objects[static_cast<size_t>(i)]) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GE(MostInFlightSince(before, "all"), 2) << LossyStats().dump();
}

// A large read is split into READs of the server's size, several in flight at once, and put
// back together in order, short only at the object's end.
TEST_F(NfsTransportTest, LargeReadsKeepSeveralReadsInFlightAndComeBackWhole) {
  auto writer = Direct();
  ASSERT_NE(writer, nullptr);
  const std::string object = testing::RandomBytes((8u << 20) + 12345, 9);
  ASSERT_TRUE(writer->Put("data/large", AsBytes(object)).ok());

  const auto before = LossyStats();
  auto reader = ThroughProxy({.connections = 1});
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->Get("data/large").value(), object);
  struct Window {
    uint64_t offset;
    size_t length;
  };
  const uint64_t size = object.size();
  for (const Window w :
       {Window{0, 1}, Window{(1u << 20) - 3, (3u << 20) + 7}, Window{65535, (5u << 20) + 1},
        Window{size - 5, 100}, Window{size, 10}, Window{size + 7, 10}}) {
    std::string dst(w.length, '\0');
    auto got = reader->ReadAt("data/large", w.offset,
                              {reinterpret_cast<std::byte*>(dst.data()), dst.size()});
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    const size_t expected = w.offset >= size ? 0 : std::min<size_t>(w.length, size - w.offset);
    ASSERT_EQ(*got, expected) << "at " << w.offset;
    EXPECT_EQ(dst.substr(0, expected), object.substr(std::min(w.offset, size), expected))
        << "at " << w.offset;
  }
  EXPECT_GE(MostInFlightSince(before, "READ"), 2) << LossyStats().dump();
}

}  // namespace
}  // namespace ferry::nfs
