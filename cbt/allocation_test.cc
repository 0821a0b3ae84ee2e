#include "cbt/allocation.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/testutil/testutil.h"

namespace ferry::cbt {
namespace {

TEST(AllocationTest, FindsDataBetweenHoles) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "sparse").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  const std::string block(65536, 'x');
  ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 1 << 20), 65536);
  ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 4 << 20), 65536);
  ASSERT_EQ(::ftruncate(fd, 8 << 20), 0);
  auto ranges = AllocatedRanges(fd, 8 << 20, path);
  ASSERT_TRUE(ranges.has_value());
  uint64_t data_bytes = 0;
  for (const auto& r : *ranges) data_bytes += r.length;
  // File systems without SEEK_DATA report everything as data; with it, only what was written.
  if (ranges->size() == 1 && (*ranges)[0].length == (8u << 20)) {
    GTEST_SKIP() << "this file system does not report holes";
  }
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].offset, 1u << 20);
  EXPECT_EQ((*ranges)[1].offset, 4u << 20);
  EXPECT_EQ(data_bytes, 2u * 65536);
  ::close(fd);
}

TEST(AllocationTest, EmptyAndFullyHoledFilesHaveNoData) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "holes").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  auto ranges = AllocatedRanges(fd, 1 << 20, path).value();
  EXPECT_TRUE(ranges.empty() || ranges[0].length == (1u << 20));
  EXPECT_TRUE(AllocatedRanges(fd, 0, path).value().empty());
  ::close(fd);
}

}  // namespace
}  // namespace ferry::cbt
