// The NFS transport's own behaviour beyond the conformance suite, against nfs-ganesha started by
// tests/servers/with_nfs.sh (skipped without it).
#include "transports/nfs/nfs_transport.h"

#include <algorithm>
#include <atomic>
#include <chrono>
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

// The proxy's count of `procedure` calls since `before`, once it has written down the latest.
int CallsSince(const nlohmann::json& before, const std::string& procedure) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // It writes every 0.1 s.
  const auto after = LossyStats();
  return after["by_procedure"].value(procedure, 0) - before["by_procedure"].value(procedure, 0);
}

std::string ReadWindow(Transport& t, const std::string& name, uint64_t offset, size_t length) {
  std::string dst(length, '\0');
  auto got = t.ReadAt(name, offset, {reinterpret_cast<std::byte*>(dst.data()), dst.size()});
  EXPECT_TRUE(got.has_value()) << got.error().ToString();
  dst.resize(got.value_or(0));
  return dst;
}

// A restore reads each pack a window at a time: the file is looked up and opened once, and
// every later read of it is READs alone.
TEST_F(NfsTransportTest, ReadingAnObjectAgainSendsNoLookupNorAccess) {
  auto writer = Direct();
  ASSERT_NE(writer, nullptr);
  const std::string object = testing::RandomBytes(1u << 20, 21);
  ASSERT_TRUE(writer->Put("data/ab/pack", AsBytes(object)).ok());

  auto reader = ThroughProxy();
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(ReadWindow(*reader, "data/ab/pack", 0, 4096), object.substr(0, 4096));
  const auto opened = LossyStats();
  EXPECT_GE(CallsSince(opened, "READ"), 0);  // Waits for the first read's calls to be counted.
  const auto before = LossyStats();
  for (uint64_t i = 1; i <= 10; ++i) {
    const uint64_t at = i * 90'000;
    EXPECT_EQ(ReadWindow(*reader, "data/ab/pack", at, 5000), object.substr(at, 5000));
  }
  EXPECT_EQ(reader->Get("data/ab/pack").value(), object);
  EXPECT_EQ(CallsSince(before, "LOOKUP"), 0) << LossyStats().dump();
  EXPECT_EQ(CallsSince(before, "ACCESS"), 0) << LossyStats().dump();
  EXPECT_GE(CallsSince(before, "READ"), 11) << LossyStats().dump();
}

// At most NfsOptions::read_handles files stay open; the one read longest ago closes first.
TEST_F(NfsTransportTest, HeldHandlesAreBoundedAndTheLeastRecentlyReadGoesFirst) {
  auto writer = Direct();
  ASSERT_NE(writer, nullptr);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(writer->Put(fmt::format("data/o{}", i), AsBytes(std::string(100, 'a'))).ok());
  }
  auto reader = ThroughProxy({.connections = 1, .read_handles = 2});
  ASSERT_NE(reader, nullptr);
  const auto before = LossyStats();
  // Opens o0 and o1; o0 is held; o2 takes o1's place (read longest ago); o0 is still held; o1
  // is opened again.
  for (int i : {0, 1, 0, 2, 0, 1}) {
    EXPECT_EQ(ReadWindow(*reader, fmt::format("data/o{}", i), 0, 100), std::string(100, 'a'));
  }
  EXPECT_EQ(CallsSince(before, "ACCESS"), 4) << LossyStats().dump();
}

// A held handle never reads what the name no longer holds: the transport forgets it when it
// writes or removes the name itself, and a handle stale because another client removed the
// object sends the reader to the name, which is gone.
TEST_F(NfsTransportTest, AHeldHandleNeverOutlivesItsObject) {
  auto t = Direct();
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Put("data/x", AsBytes(std::string("first"))).ok());
  EXPECT_EQ(ReadWindow(*t, "data/x", 0, 100), "first");
  ASSERT_TRUE(t->Put("data/x", AsBytes(std::string("second"))).ok());
  EXPECT_EQ(ReadWindow(*t, "data/x", 0, 100), "second");
  EXPECT_EQ(t->Get("data/x").value(), "second");
  ASSERT_TRUE(t->Remove("data/x").ok());
  std::string dst(10, '\0');
  auto gone = t->ReadAt("data/x", 0, {reinterpret_cast<std::byte*>(dst.data()), dst.size()});
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code(), Status::Code::kNotFound) << gone.error().ToString();

  auto other = Direct();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(t->Put("data/y", AsBytes(std::string("held"))).ok());
  EXPECT_EQ(ReadWindow(*t, "data/y", 0, 100), "held");
  ASSERT_TRUE(other->Remove("data/y").ok());
  gone = t->ReadAt("data/y", 0, {reinterpret_cast<std::byte*>(dst.data()), dst.size()});
  ASSERT_FALSE(gone.has_value()) << "read " << *gone << " bytes of a removed object";
  EXPECT_EQ(gone.error().code(), Status::Code::kNotFound) << gone.error().ToString();
  auto whole = t->Get("data/y");
  ASSERT_FALSE(whole.has_value());
  EXPECT_EQ(whole.error().code(), Status::Code::kNotFound) << whole.error().ToString();
}

}  // namespace
}  // namespace ferry::nfs
