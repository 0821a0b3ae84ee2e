// The QCOW2 writer's bookkeeping, judged by QEMU: images it lays out must pass `qemu-img check`
// with no errors and no leaks, convert back to the content they were given, and a write sequence
// cut short after any phase must leave an image that is clean or only leaks clusters.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/file_io.h"

#include "formats/qcow2/cluster_codec.h"
#include "formats/qcow2/image.h"
#include "formats/qcow2/qemu_test_util.h"
#include "formats/qcow2/refcount_check.h"
#include "formats/qcow2/writer.h"

namespace ferry::qcow2 {
namespace {

using ::ferry::testing::ReadFileOrDie;
using ::ferry::testing::RunOrFail;
using ::ferry::testing::WriteFileOrDie;

struct Spec {
  uint32_t cluster_bits = 16;
  std::optional<Compression> compress;
  std::string backing;  // File name next to the image; its content is `base`.
  std::string base;
  int stop_after_phase = 3;  // 0: only Initial and data; 1, 2: those phases; 3: complete.
};

// Writes `content` as a QCOW2 image at `path` the way the restore does: zero clusters skipped
// (or, over a backing file, clusters equal to it), others stored whole or compressed.
void WriteImage(const std::string& path, const std::string& content, const Spec& spec) {
  WriterOptions o;
  o.size = content.size();
  o.cluster_bits = spec.cluster_bits;
  o.compression = spec.compress.value_or(Compression::kZlib);
  o.backing_file = spec.backing;
  if (!spec.backing.empty()) o.backing_format = "raw";
  auto created = Qcow2Writer::Create(o);
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  Qcow2Writer& w = **created;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const std::string initial = w.Initial();
  ASSERT_TRUE(WriteFullAt(fd, AsBytes(initial), 0, path).ok());
  const uint64_t cs = w.cluster_size();
  std::string packed;
  for (uint64_t i = 0; i * cs < content.size(); ++i) {
    std::string cluster = content.substr(i * cs, cs);
    cluster.resize(cs, '\0');
    std::string below = i * cs < spec.base.size() ? spec.base.substr(i * cs, cs) : "";
    below.resize(cs, '\0');
    if (!spec.backing.empty() && cluster == below) continue;
    if (IsAllZero(AsBytes(cluster))) {
      if (!spec.backing.empty()) w.MapZero(i);
      continue;
    }
    if (spec.compress) {
      auto n = CompressCluster(*spec.compress, AsBytes(cluster), &packed, cs);
      ASSERT_TRUE(n.has_value());
      if (*n > 0) {
        const uint64_t host = w.AllocateBytes(*n);
        ASSERT_TRUE(
            WriteFullAt(fd, AsBytes(std::string_view(packed).substr(0, *n)), host, path).ok());
        w.MapCompressed(i, host, *n);
        continue;
      }
    }
    const uint64_t host = w.AllocateClusters(1);
    ASSERT_TRUE(WriteFullAt(fd, AsBytes(cluster), host, path).ok());
    w.MapData(i, host);
  }
  auto phases = w.Finish();
  ASSERT_TRUE(phases.has_value()) << phases.error().ToString();
  for (int p = 0; p < spec.stop_after_phase; ++p) {
    for (const MetadataWrite& m : (*phases)[static_cast<size_t>(p)]) {
      ASSERT_TRUE(WriteFullAt(fd, AsBytes(m.bytes), m.offset, path).ok());
    }
  }
  ::close(fd);
}

// A volume with data, text, zeros and a tail that is not a whole cluster.
std::string Content(uint64_t seed) {
  std::string v = ::ferry::testing::RandomBytes(300000, seed);
  v += std::string(500000, '\0');
  v += ::ferry::testing::PseudoText(700000, seed + 1);
  v += std::string(3 << 20, '\0');
  v += ::ferry::testing::RandomBytes(77777, seed + 2);
  v.resize(v.size() / 512 * 512);  // QEMU sees disks in whole sectors.
  return v;
}

// ferry's own refcount check of `image`.
RefcountReport OwnCheck(const std::string& image) {
  auto file = OpenImageFile(image);
  EXPECT_TRUE(file.has_value());
  auto opened = Qcow2Image::Open(std::move(*file));
  EXPECT_TRUE(opened.has_value()) << opened.error().ToString();
  auto report = CheckRefcounts(**opened);
  EXPECT_TRUE(report.has_value()) << report.error().ToString();
  return *report;
}

// qemu-img check's exit status: 0 clean, 2 corrupt, 3 leaked clusters only.
int QemuCheck(const std::string& image) {
  return WEXITSTATUS(std::system(("qemu-img check -q " + image + " >/dev/null 2>&1").c_str()));
}

class Qcow2WriterTest : public QemuToolsTest {
 protected:
  void ExpectRoundTrip(const std::string& content, const Spec& spec) {
    const std::string img = Path("out.qcow2");
    WriteImage(img, content, spec);
    EXPECT_EQ(QemuCheck(img), 0) << RunOrFail("qemu-img check " + img + " || true");
    const RefcountReport own = OwnCheck(img);
    EXPECT_TRUE(own.clean()) << (own.problems.empty() ? "" : own.problems.front());
    const std::string qemu = QemuRaw(img);
    EXPECT_EQ(qemu.size(), content.size());
    EXPECT_TRUE(qemu == content) << "qemu-img convert reads other bytes";
    auto ours = OpenImage(img);
    ASSERT_TRUE(ours.has_value()) << ours.error().ToString();
    std::string read(content.size(), '\0');
    ASSERT_TRUE((*ours)->Read(AsWritableBytes(read), 0).ok());
    EXPECT_TRUE(read == content) << "ferry's reader reads other bytes";
  }
};

TEST_F(Qcow2WriterTest, StandaloneImagesOfEveryClusterSize) {
  for (uint32_t bits : {9u, 12u, 16u, 21u}) {
    SCOPED_TRACE(bits);
    Spec spec;
    spec.cluster_bits = bits;
    ExpectRoundTrip(Content(bits), spec);
  }
}

TEST_F(Qcow2WriterTest, CompressedClustersWithZstdAndZlib) {
  for (Compression c : {Compression::kZstd, Compression::kZlib}) {
    for (uint32_t bits : {9u, 16u}) {
      SCOPED_TRACE(bits);
      Spec spec;
      spec.cluster_bits = bits;
      spec.compress = c;
      ExpectRoundTrip(Content(bits + 40), spec);
      if (c == Compression::kZstd) {
        EXPECT_NE(RunOrFail("qemu-img info " + Path("out.qcow2")).find("compression type: zstd"),
                  std::string::npos);
      }
    }
  }
}

TEST_F(Qcow2WriterTest, OverlayHoldsOnlyWhatDiffersFromItsBacking) {
  const std::string base = Content(1);
  std::string next = base;
  next.replace(100000, 5000, ::ferry::testing::RandomBytes(5000, 99));  // A change.
  std::fill(next.begin() + 800000, next.begin() + 900000, '\0');        // Text zeroed.
  next += ::ferry::testing::RandomBytes(102400, 98);                    // Grown.
  WriteFileOrDie(Path("base.raw"), base);
  Spec spec;
  spec.backing = "base.raw";
  spec.base = base;
  ExpectRoundTrip(next, spec);
  const std::string info = RunOrFail("qemu-img info --backing-chain " + Path("out.qcow2"));
  EXPECT_NE(info.find("backing file: base.raw"), std::string::npos) << info;
  // Far smaller than the image: three changed regions of a few clusters each.
  EXPECT_LT(ReadFileOrDie(Path("out.qcow2")).size(), 1u << 20);
}

TEST_F(Qcow2WriterTest, EveryCutShortWriteSequenceIsRepairableAtWorst) {
  const std::string content = Content(7);
  for (int phase = 0; phase < 3; ++phase) {
    SCOPED_TRACE(phase);
    Spec spec;
    spec.stop_after_phase = phase;
    const std::string img = Path("cut.qcow2");
    WriteImage(img, content, spec);
    const int status = QemuCheck(img);
    // Before phase 2 the image is empty and clean; between 2 and 3 it only leaks.
    EXPECT_EQ(status, phase < 2 ? 0 : 3);
    const RefcountReport own = OwnCheck(img);
    EXPECT_EQ(own.errors, 0u);
    EXPECT_EQ(own.leaks > 0, phase == 2) << "ferry's check agrees with qemu-img's";
    RunOrFail("qemu-img check -q -r leaks " + img + " >/dev/null 2>&1");
    EXPECT_EQ(QemuCheck(img), 0);
  }
}

TEST_F(Qcow2WriterTest, RefusesWhatQemuCouldNotOpen) {
  WriterOptions o;
  o.size = uint64_t{1} << 40;
  o.cluster_bits = 9;  // A 1 TiB disk in 512 byte clusters: L1 past 32 MiB.
  auto tiny = Qcow2Writer::Create(o);
  ASSERT_FALSE(tiny.has_value());
  EXPECT_NE(tiny.error().message().find("use larger clusters"), std::string::npos);
  o.size = 1 << 20;
  o.backing_file = std::string(600, 'b');
  auto long_name = Qcow2Writer::Create(o);
  ASSERT_FALSE(long_name.has_value());
  EXPECT_NE(long_name.error().message().find("more than a 512 byte cluster"), std::string::npos);
}

}  // namespace
}  // namespace ferry::qcow2
