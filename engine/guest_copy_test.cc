#include "engine/guest_copy.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "formats/qcow2/image.h"
#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

using testing::ReadFileOrDie;
using testing::TempDir;

// Readers over a string held in memory, counting what they read.
struct MemoryGuest {
  std::string bytes;
  std::atomic<uint64_t> read{0};
  GuestReaderFactory Factory() {
    return [this]() -> Result<GuestReadFn> {
      return GuestReadFn([this](MutableByteView out, uint64_t offset) {
        std::memcpy(out.data(), bytes.data() + offset, out.size());
        read += out.size();
        return Status();
      });
    };
  }
};

TEST(GuestCopy, WidensRangesToGranulesAndCountsEachByteOnce) {
  // Two ranges inside one 4 KiB block and one that crosses into the next: read once each.
  EXPECT_EQ(BytesToCopy({{10, 5}, {100, 5}, {4000, 200}}, 1 << 20, 4096), 8192u);
  EXPECT_EQ(BytesToCopy({{0, 1}}, 100, 4096), 100u);  // Clipped to the volume's end.
  EXPECT_EQ(BytesToCopy({}, 100, 4096), 0u);
}

TEST(GuestCopy, RawTargetGetsTheRangesAndHolesElsewhere) {
  TempDir dir;
  MemoryGuest guest;
  guest.bytes = testing::RandomBytes((9 << 20) + 123, 7);  // Not a multiple of anything.
  const cbt::ExtentList ranges = {{5000, 10}, {6000, 3}, {(4 << 20) - 7, 20}, {(9 << 20), 123}};
  const std::string target = (dir.path() / "out.raw").string();
  GuestCopyOptions o;
  o.window = 1 << 20;
  auto r = CopyGuestRanges(target, guest.bytes.size(), ranges, guest.Factory(), o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->bytes_read, BytesToCopy(ranges, guest.bytes.size(), 4096));
  EXPECT_EQ(guest.read.load(), r->bytes_read);
  const std::string out = ReadFileOrDie(target);
  ASSERT_EQ(out.size(), guest.bytes.size());
  // Whole blocks around each range came over; everything else reads as zeros (a hole).
  std::string expected(guest.bytes.size(), '\0');
  for (const auto& range : ranges) {
    const uint64_t b = AlignDown(range.offset, 4096);
    const uint64_t e = std::min<uint64_t>(AlignUp(range.end(), 4096), guest.bytes.size());
    expected.replace(b, e - b, guest.bytes, b, e - b);
  }
  EXPECT_TRUE(out == expected);
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, uint64_t{1} << 20) << "not sparse";

  // The target now exists: a second copy must not overwrite it.
  auto again = CopyGuestRanges(target, guest.bytes.size(), ranges, guest.Factory(), o);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Status::Code::kAlreadyExists);
}

TEST(GuestCopy, QcowTargetReadsBackAsTheRanges) {
  TempDir dir;
  MemoryGuest guest;
  guest.bytes = testing::RandomBytes(3 << 20, 9);
  std::memset(guest.bytes.data() + (1 << 20), 0, 1 << 20);  // A zero run: stored as nothing.
  const std::string target = (dir.path() / "out.qcow2").string();
  GuestCopyOptions o;
  o.qcow2 = Qcow2ExportOptions{};
  o.qcow2->only_dirty_clusters = true;
  auto r =
      CopyGuestRanges(target, guest.bytes.size(), {{0, guest.bytes.size()}}, guest.Factory(), o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->clusters, 32u);  // 2 MiB of data in 64 KiB clusters; the zeros are not stored.
  auto image = qcow2::OpenImage(target);
  ASSERT_TRUE(image.has_value()) << image.error().ToString();
  std::string back(guest.bytes.size(), '\0');
  ASSERT_TRUE((*image)->Read(AsWritableBytes(back), 0).ok());
  EXPECT_TRUE(back == guest.bytes);
}

TEST(GuestCopy, AReaderErrorRemovesThePartialTarget) {
  TempDir dir;
  const std::string target = (dir.path() / "out.qcow2").string();
  GuestCopyOptions o;
  o.qcow2 = Qcow2ExportOptions{};
  GuestReaderFactory failing = []() -> Result<GuestReadFn> {
    return GuestReadFn([](MutableByteView, uint64_t offset) {
      return Status::IoError("read the source at " + std::to_string(offset));
    });
  };
  auto r = CopyGuestRanges(target, 1 << 20, {{0, 1 << 20}}, failing, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("read the source"), std::string::npos);
  struct stat st {};
  EXPECT_NE(::stat(target.c_str(), &st), 0) << "the partial image was left behind";
}

}  // namespace
}  // namespace ferry
