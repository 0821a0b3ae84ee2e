#include "transports/local/local_transport.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

// What every backend must do is in transports/conformance_test.cc; these are local specifics.

class LocalTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { t_ = LocalTransport::Open(dir_.path().string()).value(); }
  testing::TempDir dir_;
  std::unique_ptr<LocalTransport> t_;
};

TEST_F(LocalTransportTest, NotFoundNamesTheObject) {
  auto r = t_->Get("snapshots/nope");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsNotFound());
  EXPECT_EQ(r.error().message(), t_->Describe() + "/snapshots/nope: No such file or directory");
  EXPECT_TRUE(t_->Remove("snapshots/nope").ok());
}

TEST_F(LocalTransportTest, ListIsSortedRecursiveAndHidesTemporaries) {
  ASSERT_TRUE(t_->Put("index/b", AsBytes("x")).ok());
  ASSERT_TRUE(t_->Put("index/a", AsBytes("x")).ok());
  ASSERT_TRUE(t_->Put("data/00/p1", AsBytes("x")).ok());
  std::filesystem::create_directories(dir_.path() / "data/01");
  { std::ofstream(dir_.path() / "data/01/.tmp-123") << "partial"; }
  EXPECT_EQ(t_->List("index").value(), (std::vector<std::string>{"index/a", "index/b"}));
  EXPECT_EQ(t_->List("data").value(), (std::vector<std::string>{"data/00/p1"}));
  EXPECT_TRUE(t_->List("snapshots").value().empty());
}

TEST_F(LocalTransportTest, OpenRejectsMissingRoot) {
  EXPECT_TRUE(LocalTransport::Open((dir_.path() / "missing").string()).error().IsNotFound());
}

}  // namespace
}  // namespace ferry
