// The QCOW2 reader against images made by QEMU's own tools: what it reads must equal what
// `qemu-img convert -O raw` produces, for every layout QEMU writes.
#include <gtest/gtest.h>

#include "common/coding.h"

#include "formats/qcow2/image.h"
#include "formats/qcow2/qcow2_image.h"
#include "formats/qcow2/qemu_test_util.h"
#include "formats/qcow2/refcount_check.h"
#include "tests/testutil/testutil.h"

namespace ferry::qcow2 {
namespace {

using ::ferry::testing::ReadFileOrDie;
using ::ferry::testing::RunOrFail;
using ::ferry::testing::WriteFileOrDie;

// 6 MiB and a bit: random, compressible and zero stretches, not a whole number of clusters.
std::string VolumeContent() {
  std::string v = ::ferry::testing::RandomBytes(1 << 20, 7);
  v += ::ferry::testing::PseudoText(2 << 20, 8);
  v += std::string(2 << 20, '\0');
  v += ::ferry::testing::RandomBytes((1 << 20) + 12345, 9);
  return v;
}

// Reads the whole guest disk in uneven pieces and checks that every byte outside DataRanges()
// is zero.
std::string ReadAll(Image& image) {
  std::string out(image.size(), '\0');
  const uint64_t piece = 777777;
  for (uint64_t at = 0; at < out.size(); at += piece) {
    const uint64_t n = std::min<uint64_t>(piece, out.size() - at);
    const Status s = image.Read(AsWritableBytes(out).subspan(at, n), at);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  auto ranges = image.DataRanges();
  EXPECT_TRUE(ranges.has_value());
  if (ranges) {
    uint64_t at = 0;
    for (const auto& r : *ranges) {
      EXPECT_TRUE(IsAllZero(AsBytes(out).subspan(at, r.offset - at))) << "data before " << r.offset;
      at = r.end();
    }
    EXPECT_TRUE(IsAllZero(AsBytes(out).subspan(at)));
  }
  return out;
}

class Qcow2ReaderTest : public QemuToolsTest {};

struct Layout {
  const char* name;
  const char* convert_options;
};

class Qcow2LayoutTest : public QemuToolsTest, public ::testing::WithParamInterface<Layout> {};

TEST_P(Qcow2LayoutTest, ReadsWhatQemuImgConverts) {
  WriteFileOrDie(Path("source.raw"), VolumeContent());
  const std::string img = Path("disk.qcow2");
  RunOrFail(fmt::format("qemu-img convert -f raw -O qcow2 {} {} {}", GetParam().convert_options,
                        Path("source.raw"), img));
  // Rewrites on top: partial clusters, zeroed and discarded ranges, a write into compressed data.
  QemuIo(img, {"write -P 0x5a 70000 3000", "write -z 1M 200k", "discard 2M 64k",
               "write -P 0x11 4194000 9000", "write -z 5000000 4096"});
  auto image = OpenImage(img);
  ASSERT_TRUE(image.has_value()) << image.error().ToString();
  EXPECT_EQ((*image)->format(), "qcow2");
  // ferry's refcount check agrees with qemu-img's on QEMU's own images.
  auto report = CheckRefcounts(static_cast<Qcow2Image&>(**image));
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_TRUE(report->clean()) << (report->problems.empty() ? "" : report->problems.front());
  EXPECT_TRUE(ReadAll(**image) == QemuRaw(img)) << "reads other bytes than qemu-img convert";
}

INSTANTIATE_TEST_SUITE_P(
    QemuLayouts, Qcow2LayoutTest,
    ::testing::Values(Layout{"v2", "-o compat=0.10"},
                      Layout{"v3_512", "-o compat=1.1,cluster_size=512"},
                      Layout{"v3_2M", "-o cluster_size=2M"}, Layout{"zlib", "-c"},
                      Layout{"zstd", "-c -o compression_type=zstd"},
                      Layout{"extended_l2", "-o extended_l2=on,cluster_size=128k"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(Qcow2ReaderTest, ReadsBackingChainsOfQcow2AndRaw) {
  WriteFileOrDie(Path("base.raw"), VolumeContent());
  RunOrFail(fmt::format("qemu-img convert -f raw -O qcow2 -c {} {}", Path("base.raw"),
                        Path("base.qcow2")));
  RunOrFail(fmt::format("cd {} && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2",
                        dir_.path().string()));
  QemuIo(Path("mid.qcow2"), {"write -P 0x21 100k 300k", "write -z 3M 1M"});
  // The top is larger than its backing file and has subclusters.
  RunOrFail(
      fmt::format("cd {} && qemu-img create -q -f qcow2 -o extended_l2=on -b mid.qcow2 "
                  "-F qcow2 top.qcow2 9M",
                  dir_.path().string()));
  QemuIo(Path("top.qcow2"), {"write -P 0x33 8k 4k", "write -P 0x44 7M 1k", "discard 1M 64k"});
  auto top = OpenImage(Path("top.qcow2"));
  ASSERT_TRUE(top.has_value()) << top.error().ToString();
  EXPECT_TRUE(ReadAll(**top) == QemuRaw(Path("top.qcow2"))) << "top of the chain differs";

  // A raw backing file, named without a format (probed).
  RunOrFail(fmt::format("cd {} && qemu-img create -q -f qcow2 -b base.raw -F raw over.qcow2",
                        dir_.path().string()));
  QemuIo(Path("over.qcow2"), {"write -P 0x55 2M 100k"});
  auto over = OpenImage(Path("over.qcow2"));
  ASSERT_TRUE(over.has_value()) << over.error().ToString();
  EXPECT_TRUE(ReadAll(**over) == QemuRaw(Path("over.qcow2"))) << "overlay of raw differs";
}

TEST_F(Qcow2ReaderTest, DataRangesSkipHolesAndZeroClusters) {
  const std::string img = Path("sparse.qcow2");
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 64M", img));
  QemuIo(img, {"write -P 1 1M 64k", "write -P 2 40M 128k", "write -z 41M 1M"});
  auto image = OpenImage(img);
  ASSERT_TRUE(image.has_value());
  auto ranges = (*image)->DataRanges();
  ASSERT_TRUE(ranges.has_value());
  EXPECT_EQ(*ranges, (cbt::ExtentList{{1 << 20, 64 << 10}, {40 << 20, 128 << 10}}));
}

TEST_F(Qcow2ReaderTest, RefusesWhatItCannotRead) {
  WriteFileOrDie(Path("text.raw"), "just some text, not an image");
  OpenImageOptions qcow2;
  qcow2.format = ImageFormat::kQcow2;
  auto not_qcow2 = OpenImage(Path("text.raw"), qcow2);
  ASSERT_FALSE(not_qcow2.has_value());
  EXPECT_TRUE(not_qcow2.error().IsInvalidArgument());
  EXPECT_NE(not_qcow2.error().message().find("not a QCOW2 image"), std::string::npos);

  // crypt_method 2 (LUKS) set by hand: qemu-img's LUKS set-up times its key derivation and
  // fails where it cannot read the CPU clock.
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 1M", Path("luks.qcow2")));
  std::string luks_bytes = ReadFileOrDie(Path("luks.qcow2"));
  luks_bytes[35] = 2;
  WriteFileOrDie(Path("luks.qcow2"), luks_bytes);
  auto luks = OpenImage(Path("luks.qcow2"));
  ASSERT_FALSE(luks.has_value());
  EXPECT_TRUE(luks.error().IsNotSupported()) << luks.error().ToString();
  EXPECT_NE(luks.error().message().find("encrypted"), std::string::npos);

  RunOrFail(fmt::format("qemu-img create -q -u -f qcow2 -b missing.qcow2 -F qcow2 {} 1M",
                        Path("orphan.qcow2")));
  auto orphan = OpenImage(Path("orphan.qcow2"));
  ASSERT_FALSE(orphan.has_value());
  EXPECT_TRUE(orphan.error().IsNotFound());
  EXPECT_NE(orphan.error().message().find("backing file of"), std::string::npos);

  // The corrupt bit, set by hand.
  const std::string img = Path("marked.qcow2");
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 1M", img));
  std::string bytes = ReadFileOrDie(img);
  bytes[79] = static_cast<char>(bytes[79] | 2);
  WriteFileOrDie(img, bytes);
  auto marked = OpenImage(img);
  ASSERT_FALSE(marked.has_value());
  EXPECT_NE(marked.error().message().find("qemu-img check"), std::string::npos);
}

TEST_F(Qcow2ReaderTest, TruncatedImageFailsWithTheOffset) {
  const std::string img = Path("cut.qcow2");
  RunOrFail(fmt::format("qemu-img create -q -f qcow2 {} 8M", img));
  QemuIo(img, {"write -P 7 0 4M"});
  std::string bytes = ReadFileOrDie(img);
  WriteFileOrDie(img, bytes.substr(0, bytes.size() / 2));
  auto image = OpenImage(img);
  ASSERT_TRUE(image.has_value()) << image.error().ToString();
  std::string out(4 << 20, '\0');
  const Status s = (*image)->Read(AsWritableBytes(out), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("past the end of the file"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace ferry::qcow2
