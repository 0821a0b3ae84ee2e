// The NFS transport's own behaviour beyond the conformance suite, against nfs-ganesha started by
// tests/servers/with_nfs.sh (skipped without it).
#include "transports/nfs/nfs_transport.h"

#include <cstdlib>
#include <fstream>
#include <random>

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

// A LINK or RENAME whose answer was lost was done by the server; libnfs sends it again on a new
// connection and ganesha, not recognising the resend, fails it: EEXIST for the link, NOENT for
// the rename. The publication must still succeed, and a real conflict must still be refused.
TEST(NfsTransportTest, APublicationWhoseAnswerWasLostStillSucceeds) {
  const char* lossy = std::getenv("FERRY_NFS_LOSSY_URI");
  if (lossy == nullptr) GTEST_SKIP() << "no NFS test server: run through tests/servers/with_nfs.sh";
  const std::string prefix = fmt::format("lossy-{:x}", std::random_device{}());
  auto parsed = ParseTransportUri(std::string(lossy) + "/" + prefix);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  auto opened = NfsTransport::Open(parsed->nfs, /*create=*/true);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  auto& t = **opened;
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

}  // namespace
}  // namespace ferry::nfs
