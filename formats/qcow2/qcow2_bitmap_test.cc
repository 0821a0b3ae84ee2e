// Persistent dirty bitmaps made by qemu-img and filled by qemu-io writes. (The CLI test compares
// the same lists with what qemu-nbd exports and nbdinfo reads.)
#include <gtest/gtest.h>

#include "common/coding.h"

#include "formats/qcow2/bitmaps.h"
#include "formats/qcow2/qcow2_image.h"
#include "formats/qcow2/qemu_test_util.h"

namespace ferry::qcow2 {
namespace {

using ::ferry::testing::ReadFileOrDie;
using ::ferry::testing::RunOrFail;
using ::ferry::testing::WriteFileOrDie;

class Qcow2BitmapTest : public QemuToolsTest {
 protected:
  Result<DirtyBitmap> Read(const std::string& image, const std::string& name) {
    auto file = OpenImageFile(image);
    EXPECT_TRUE(file.has_value());
    auto opened = Qcow2Image::Open(std::move(*file));
    EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
    return ReadDirtyBitmap((*opened)->file(), (*opened)->header(), name);
  }
};

TEST_F(Qcow2BitmapTest, ListsTheRangesWrittenWhileEnabled) {
  const std::string img = Path("disk.qcow2");
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 16M", img));
  QemuIo(img, {"write -P 1 0 1M"});  // Before the bitmaps: not in them.
  RunOrFail(fmt::format("qemu-img bitmap --add --enable {} b64k", img));
  RunOrFail(fmt::format("qemu-img bitmap --add --enable -g 4096 {} b4k", img));
  QemuIo(img,
         {"write -P 2 100000 5000", "write -P 3 5242881 1", "write -P 4 8M 1M", "write -z 15M 8k"});
  auto coarse = Read(img, "b64k");
  ASSERT_TRUE(coarse.has_value()) << coarse.error().ToString();
  EXPECT_EQ(coarse->untrusted, "");
  EXPECT_EQ(coarse->granularity, 65536u);
  EXPECT_EQ(
      coarse->dirty,
      (cbt::ExtentList{{65536, 65536}, {5 << 20, 65536}, {8 << 20, 1 << 20}, {15 << 20, 65536}}));
  auto fine = Read(img, "b4k");
  ASSERT_TRUE(fine.has_value());
  EXPECT_EQ(
      fine->dirty,
      (cbt::ExtentList{{98304, 8192}, {5 << 20, 4096}, {8 << 20, 1 << 20}, {15 << 20, 8192}}));
}

TEST_F(Qcow2BitmapTest, UnknownNameListsTheBitmapsThereAre) {
  const std::string img = Path("disk.qcow2");
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 1M", img));
  auto none = Read(img, "b0");
  ASSERT_FALSE(none.has_value());
  EXPECT_TRUE(none.error().IsNotFound());
  RunOrFail(fmt::format("qemu-img bitmap --add {} first", img));
  RunOrFail(fmt::format("qemu-img bitmap --add {} second", img));
  auto missing = Read(img, "third");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("it has: first, second"), std::string::npos)
      << missing.error().ToString();
}

// A bitmap whose writer died (in use) or an image written by a program that does not keep
// bitmaps (autoclear bit gone) is not trusted; qemu-img check calls both images clean.
TEST_F(Qcow2BitmapTest, InUseOrInconsistentBitmapsAreNotTrusted) {
  const std::string img = Path("disk.qcow2");
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 4M", img));
  RunOrFail(fmt::format("qemu-img bitmap --add --enable {} b0", img));
  QemuIo(img, {"write -P 9 0 64k"});
  const std::string clean = ReadFileOrDie(img);
  auto file = OpenImageFile(img);
  ASSERT_TRUE(file.has_value());
  auto image = Qcow2Image::Open(std::move(*file));
  ASSERT_TRUE(image.has_value());
  const uint64_t directory = (*image)->header().bitmaps->directory_offset;

  std::string in_use = clean;
  in_use[directory + 15] = static_cast<char>(in_use[directory + 15] | 1);  // flags bit 0
  WriteFileOrDie(img, in_use);
  RunOrFail("qemu-img check -q " + img);
  auto dead = Read(img, "b0");
  ASSERT_TRUE(dead.has_value());
  EXPECT_NE(dead->untrusted.find("in use"), std::string::npos) << dead->untrusted;
  EXPECT_TRUE(dead->dirty.empty());

  std::string stale = clean;
  stale[95] = static_cast<char>(stale[95] & ~1);  // autoclear bit 0
  WriteFileOrDie(img, stale);
  auto inconsistent = Read(img, "b0");
  ASSERT_TRUE(inconsistent.has_value());
  EXPECT_NE(inconsistent->untrusted.find("inconsistent"), std::string::npos);

  std::string bad_table = clean;
  const uint64_t table = DecodeBig64(clean.data() + directory);
  EncodeBig64(bad_table.data() + table, uint64_t{1} << 50);  // Data far past the end.
  WriteFileOrDie(img, bad_table);
  auto malformed = Read(img, "b0");
  ASSERT_TRUE(malformed.has_value());
  EXPECT_NE(malformed->untrusted.find("malformed"), std::string::npos) << malformed->untrusted;
}

}  // namespace
}  // namespace ferry::qcow2
