#include "transports/local/local_transport.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

class LocalTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { t_ = LocalTransport::Open(dir_.path().string()).value(); }
  testing::TempDir dir_;
  std::unique_ptr<LocalTransport> t_;
};

TEST_F(LocalTransportTest, PutGetReadAtSizeRoundTrip) {
  const std::string data = testing::RandomBytes(100'000, 1);
  ASSERT_TRUE(t_->Put("data/ab/abcdef", AsBytes(data)).ok());
  EXPECT_EQ(t_->Get("data/ab/abcdef").value(), data);
  EXPECT_EQ(t_->Size("data/ab/abcdef").value(), data.size());
  std::string part(10, '\0');
  ASSERT_EQ(
      t_->ReadAt("data/ab/abcdef", 99'995, {reinterpret_cast<std::byte*>(part.data()), 10}).value(),
      5u);
  EXPECT_EQ(part.substr(0, 5), data.substr(99'995));
}

TEST_F(LocalTransportTest, NotFoundNamesTheObject) {
  auto r = t_->Get("snapshots/nope");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsNotFound());
  EXPECT_EQ(r.error().message(), t_->Describe() + "/snapshots/nope: No such file or directory");
  EXPECT_TRUE(t_->Remove("snapshots/nope").ok());
}

TEST_F(LocalTransportTest, ExclusivePutRefusesToReplace) {
  ASSERT_TRUE(t_->Put("config", AsBytes("one"), true).ok());
  Status s = t_->Put("config", AsBytes("two"), true);
  EXPECT_EQ(s.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(t_->Get("config").value(), "one");
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

TEST_F(LocalTransportTest, ConcurrentWritersOfDifferentObjects) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string name =
            "data/" + std::to_string(i % 4) + "/o" + std::to_string(t * 100 + i);
        ASSERT_TRUE(t_->Put(name, AsBytes(name)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto names = t_->List("data").value();
  ASSERT_EQ(names.size(), 160u);
  for (const auto& n : names) EXPECT_EQ(t_->Get(n).value(), n);
}

TEST_F(LocalTransportTest, WriterPublishesOnlyOnCommit) {
  auto w = t_->Create("data/cd/cdef").value();
  ASSERT_TRUE(w->Append(AsBytes("hello ")).ok());
  ASSERT_TRUE(w->Append(AsBytes("world")).ok());
  EXPECT_EQ(w->size(), 11u);
  EXPECT_TRUE(t_->Get("data/cd/cdef").error().IsNotFound());
  EXPECT_TRUE(t_->List("data").value().empty());
  ASSERT_TRUE(w->Commit().ok());
  EXPECT_EQ(t_->Get("data/cd/cdef").value(), "hello world");
  {
    auto abandoned = t_->Create("data/cd/gone").value();
    ASSERT_TRUE(abandoned->Append(AsBytes("partial")).ok());
  }
  EXPECT_EQ(t_->List("data").value(), std::vector<std::string>{"data/cd/cdef"});
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path() / "data/cd"),
                          std::filesystem::directory_iterator{}),
            1);
}

TEST_F(LocalTransportTest, OpenRejectsMissingRoot) {
  EXPECT_TRUE(LocalTransport::Open((dir_.path() / "missing").string()).error().IsNotFound());
}

}  // namespace
}  // namespace ferry
