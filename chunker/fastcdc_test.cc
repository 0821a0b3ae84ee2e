// FastCDC against the published fastcdc-rs vectors for SekienAkashita.jpg (tests/data/fastcdc,
// documented in docs/chunking.md), fed whole and fed one byte at a time.
#include "chunker/fastcdc.h"

#include <gtest/gtest.h>

#include "chunker/chunker_test_util.h"
#include "tests/testutil/testutil.h"

namespace ferry::chunker {
namespace {

struct Vector {
  const char* name;
  Algorithm algorithm;
  uint32_t min, avg, max;
  int level;
  uint64_t seed;
  std::vector<ChunkSpan> expected;
};

std::vector<Vector> SekienVectors() {
  const auto k20 = Algorithm::kFastCdc2020;
  const auto k16 = Algorithm::kFastCdc2016;
  return {
      {"v2020_16k",
       k20,
       4096,
       16384,
       65535,
       1,
       0,
       {{0, 21325}, {21325, 17140}, {38465, 28084}, {66549, 18217}, {84766, 24700}}},
      {"v2020_16k_seed666",
       k20,
       4096,
       16384,
       65535,
       1,
       666,
       {{0, 10605}, {10605, 55745}, {66350, 11346}, {77696, 5883}, {83579, 11586}, {95165, 14301}}},
      {"v2020_32k", k20, 8192, 32768, 131072, 1, 0, {{0, 66549}, {66549, 42917}}},
      {"v2020_64k", k20, 16384, 65536, 262144, 1, 0, {{0, 109466}}},
      {"v2020_16k_nc0",
       k20,
       4096,
       16384,
       65535,
       0,
       0,
       {{0, 6634}, {6634, 59915}, {66549, 25597}, {92146, 5237}, {97383, 12083}}},
      {"v2020_16k_nc3",
       k20,
       8192,
       16384,
       32768,
       3,
       0,
       {{0, 17350},
        {17350, 19911},
        {37261, 17426},
        {54687, 17519},
        {72206, 19940},
        {92146, 17320}}},
      {"v2016_16k",
       k16,
       4096,
       16384,
       65535,
       1,
       0,
       {{0, 21325}, {21325, 17140}, {38465, 28084}, {66549, 18217}, {84766, 24700}}},
      {"v2016_32k", k16, 8192, 32768, 131072, 1, 0, {{0, 66549}, {66549, 42917}}},
      {"v2016_64k", k16, 16384, 65536, 262144, 1, 0, {{0, 109466}}},
      {"v2016_16k_nc0",
       k16,
       4096,
       16384,
       65535,
       0,
       0,
       {{0, 6634}, {6634, 59915}, {66549, 25597}, {92146, 5237}, {97383, 12083}}},
      {"v2016_16k_nc3",
       k16,
       4096,
       16384,
       65535,
       3,
       0,
       {{0, 17350},
        {17350, 19911},
        {37261, 17426},
        {54687, 17519},
        {72206, 19940},
        {92146, 17320}}},
  };
}

Params ParamsOf(const Vector& v) {
  Params p;
  p.algorithm = v.algorithm;
  p.min_size = v.min;
  p.avg_size = v.avg;
  p.max_size = v.max;
  p.level = v.level;
  p.seed = v.seed;
  return p;
}

TEST(FastCdcTest, ReproducesPublishedSekienVectors) {
  const std::string image = testing::ReadFileOrDie(testing::DataPath("fastcdc/SekienAkashita.jpg"));
  ASSERT_EQ(image.size(), 109466u);
  for (const Vector& v : SekienVectors()) {
    SCOPED_TRACE(v.name);
    EXPECT_EQ(ToSpans(CutsWhole(ParamsOf(v), image)), v.expected);
  }
}

TEST(FastCdcTest, ReproducesSekienVectorsFedOneByteAtATime) {
  const std::string image = testing::ReadFileOrDie(testing::DataPath("fastcdc/SekienAkashita.jpg"));
  for (const Vector& v : SekienVectors()) {
    SCOPED_TRACE(v.name);
    auto chunker = MakeChunker(ParamsOf(v)).value();
    std::vector<uint64_t> cuts;
    for (char c : image) chunker->Update(AsBytes(std::string_view(&c, 1)), &cuts);
    chunker->Finish(&cuts);
    EXPECT_EQ(ToSpans(cuts), v.expected);
  }
}

TEST(FastCdcTest, MasksMatchPublishedValues) {
  // 16 KiB average, level 1: MASKS[15] and MASKS[13] (docs/chunking.md).
  FastCdc c(ParamsOf(SekienVectors()[0]));
  EXPECT_EQ(c.mask_small(), 0x0000d90f03530000u);
  EXPECT_EQ(c.mask_large(), 0x0000d90303530000u);
  // 32 KiB average rounds log2 to 15: MASKS[16] and MASKS[14].
  FastCdc c32(ParamsOf(SekienVectors()[2]));
  EXPECT_EQ(c32.mask_small(), 0x0000d90303537000u);
  EXPECT_EQ(c32.mask_large(), 0x0000d90313530000u);
}

TEST(FastCdcTest, AllZerosGiveMaxSizeChunks) {
  // The published all-zeros vector: 10240 zero bytes, min 64 / avg 256 / max 1024, level 1.
  const std::string zeros(10240, '\0');
  for (Algorithm a : {Algorithm::kFastCdc2020, Algorithm::kFastCdc2016}) {
    Params p;
    p.algorithm = a;
    p.min_size = 64;
    p.avg_size = 256;
    p.max_size = 1024;
    const auto spans = ToSpans(CutsWhole(p, zeros));
    ASSERT_EQ(spans.size(), 10u) << AlgorithmName(a);
    for (size_t i = 0; i < spans.size(); ++i) {
      EXPECT_EQ(spans[i], (ChunkSpan{i * 1024, 1024}));
    }
  }
}

TEST(FastCdcTest, EmptyInputGivesNoChunks) { EXPECT_TRUE(CutsWhole(Params{}, "").empty()); }

TEST(FastCdcTest, TailShorterThanMinIsOneChunk) {
  Params p;
  p.min_size = 4096;
  p.avg_size = 16384;
  p.max_size = 65536;
  const std::string data = testing::RandomBytes(4000, 7);
  EXPECT_EQ(CutsWhole(p, data), std::vector<uint64_t>{4000});
}

TEST(FastCdcTest, ResetReportsCutsInCallerCoordinates) {
  const std::string data = testing::RandomBytes(1 << 20, 3);
  Params p;
  p.min_size = 2048;
  p.avg_size = 8192;
  p.max_size = 32768;
  const auto base = CutsWhole(p, data);
  auto chunker = MakeChunker(p).value();
  chunker->Reset(1'000'000);
  std::vector<uint64_t> cuts;
  chunker->Update(AsBytes(data), &cuts);
  chunker->Finish(&cuts);
  ASSERT_EQ(cuts.size(), base.size());
  for (size_t i = 0; i < cuts.size(); ++i) EXPECT_EQ(cuts[i], base[i] + 1'000'000);
}

}  // namespace
}  // namespace ferry::chunker
