// VolumeSource on a real file: what a reader opened for random reads costs, and that its reads
// and its stream agree.
#include "engine/volume_source.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

// Read-ahead buffers far larger than any machine's memory: a reader that allocated them when
// opened would fail (std::bad_alloc) before it read anything.
constexpr size_t kHugeBuffer = size_t{1} << 40;

TEST(VolumeSourceTest, ARawSourceUsedForRandomReadsAllocatesNoStreamBuffers) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "vol.img").string();
  const std::string bytes = testing::PseudoText(3u << 20, 7);
  testing::WriteFileOrDie(path, bytes);
  VolumeSourceOptions options;
  options.format = qcow2::ImageFormat::kRaw;
  options.reader.buffer_size = kHugeBuffer;
  options.reader.buffers = 4;
  auto source = VolumeSource::Open(path, options);
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  // One reader per worker of the qcow2 layout, each reading at random only.
  for (int i = 0; i < 3; ++i) {
    auto again = (*source)->OpenAgain();
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    std::string got(100000, '\0');
    const uint64_t at = 12345u + static_cast<uint64_t>(i) * 1000000u;
    ASSERT_TRUE((*again)->ReadAt(AsWritableBytes(got), at).ok());
    EXPECT_EQ(got, bytes.substr(at, got.size()));
  }
}

TEST(VolumeSourceTest, TheStreamOfAReopenedSourceReadsWhatRandomReadsRead) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "vol.img").string();
  const std::string bytes = testing::PseudoText((5u << 20) + 777, 8);
  testing::WriteFileOrDie(path, bytes);
  VolumeSourceOptions options;
  options.format = qcow2::ImageFormat::kRaw;
  options.reader.buffers = 2;
  options.reader.buffer_size = 1u << 20;
  auto source = VolumeSource::Open(path, options);
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  std::string head(4096, '\0');
  ASSERT_TRUE((*source)->ReadAt(AsWritableBytes(head), 0).ok());
  auto again = (*source)->OpenAgain();
  ASSERT_TRUE(again.has_value());
  std::string streamed;
  for (;;) {
    auto b = (*again)->NextBuffer();
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    if (b->data.empty()) break;
    EXPECT_EQ(b->offset, streamed.size());
    streamed.append(reinterpret_cast<const char*>(b->data.data()), b->data.size());
  }
  EXPECT_EQ(streamed, bytes);
  EXPECT_EQ(head, bytes.substr(0, head.size()));
}

}  // namespace
}  // namespace ferry
