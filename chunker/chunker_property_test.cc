// Properties every chunker must have, on random and text data over many seeds:
//  - the cut points do not depend on how the stream is split into buffers;
//  - chunks tile the input (offsets increase, the last cut is the input size);
//  - every chunk but the last lies within [min, max].
#include <random>

#include <gtest/gtest.h>

#include "chunker/chunker_test_util.h"
#include "tests/testutil/testutil.h"

namespace ferry::chunker {
namespace {

std::vector<Params> ParamSets() {
  std::vector<Params> out;
  for (Algorithm a : {Algorithm::kFastCdc2020, Algorithm::kFastCdc2016}) {
    // Even, odd and normalisation-level corner cases.
    out.push_back({a, 2048, 8192, 32768, 1, 0});
    out.push_back({a, 2049, 8191, 32767, 2, 0});
    out.push_back({a, 64, 256, 1024, 3, 0});
    out.push_back({a, 1000, 4000, 16001, 0, 12345});
  }
  out.push_back({Algorithm::kFixed, 0, 4096, 0, 1, 0});
  out.push_back({Algorithm::kFixed, 0, 1000, 0, 1, 0});
  return out;
}

void CheckTiling(const Params& p, const std::vector<uint64_t>& cuts, size_t size) {
  ASSERT_FALSE(cuts.empty());
  EXPECT_EQ(cuts.back(), size);
  uint64_t start = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    ASSERT_GT(cuts[i], start);
    const uint64_t len = cuts[i] - start;
    if (p.algorithm == Algorithm::kFixed) {
      if (i + 1 < cuts.size()) {
        EXPECT_EQ(len, p.avg_size);
      }
    } else {
      EXPECT_LE(len, p.max_size);
      if (i + 1 < cuts.size()) {
        // An odd min starts hashing one byte early in v2020.
        EXPECT_GE(len, p.min_size & ~1u);
      }
    }
    start = cuts[i];
  }
}

TEST(ChunkerPropertyTest, AnySplitGivesIdenticalCutsOnRandomData) {
  std::mt19937_64 rng(42);
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const std::string data = testing::RandomBytes(300'000 + seed * 7919, seed);
    for (const Params& p : ParamSets()) {
      SCOPED_TRACE(std::to_string(seed) + " " + std::string(AlgorithmName(p.algorithm)) +
                   " min=" + std::to_string(p.min_size));
      const auto whole = CutsWhole(p, data);
      CheckTiling(p, whole, data.size());
      for (size_t max_piece :
           {size_t{1}, size_t{2}, size_t{3}, size_t{17}, size_t{4096}, size_t{100'000}}) {
        if (max_piece < 8 && seed > 2) continue;  // Byte-sized feeds are slow; two seeds suffice.
        EXPECT_EQ(CutsSplit(p, data, &rng, max_piece), whole) << "max_piece=" << max_piece;
      }
    }
  }
}

TEST(ChunkerPropertyTest, AnySplitGivesIdenticalCutsOnTextAndZeros) {
  std::mt19937_64 rng(7);
  std::string data = testing::PseudoText(200'000, 5);
  data += std::string(100'000, '\0');
  data += testing::PseudoText(50'001, 6);
  for (const Params& p : ParamSets()) {
    const auto whole = CutsWhole(p, data);
    CheckTiling(p, whole, data.size());
    for (size_t max_piece : {size_t{5}, size_t{999}, size_t{65536}}) {
      EXPECT_EQ(CutsSplit(p, data, &rng, max_piece), whole);
    }
  }
}

TEST(ChunkerPropertyTest, EditsOnlyMoveNearbyCuts) {
  // Content-defined chunking's point: an insertion disturbs only the chunks around it.
  Params p{Algorithm::kFastCdc2020, 2048, 8192, 32768, 1, 0};
  const std::string a = testing::RandomBytes(1 << 20, 99);
  std::string b = a;
  b.insert(500'000, "inserted bytes");
  const auto ca = CutsWhole(p, a);
  const auto cb = CutsWhole(p, b);
  size_t shared = 0;
  for (uint64_t c : ca) {
    const uint64_t moved = c < 500'000 ? c : c + 14;
    if (std::find(cb.begin(), cb.end(), moved) != cb.end()) ++shared;
  }
  EXPECT_GE(shared + 3, ca.size());
}

TEST(ChunkerParamsTest, RejectsBadParametersWithClearMessages) {
  auto bad = [](Params p) { return ValidateParams(p); };
  Status s = bad({Algorithm::kFastCdc2020, 8192, 4096, 65536, 1, 0});
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "chunker sizes must satisfy min < avg < max (got min 8192, avg 4096, max 65536)");
  s = bad({Algorithm::kFastCdc2020, 32, 4096, 65536, 1, 0});
  EXPECT_EQ(s.message(), "chunker min size 32 is out of bounds [64, 1048576]");
  s = bad({Algorithm::kFastCdc2020, 1024, 8u << 20, 16u << 20, 1, 0});
  EXPECT_EQ(s.message(), "chunker avg size 8388608 is out of bounds [256, 4194304]");
  s = bad({Algorithm::kFastCdc2020, 1024, 4096, 65536, 4, 0});
  EXPECT_EQ(s.message(), "chunker normalisation level 4 is out of bounds [0, 3]");
  s = bad({Algorithm::kFixed, 0, 100, 0, 1, 0});
  EXPECT_EQ(s.message(), "chunker fixed chunk size 100 is out of bounds [512, 67108864]");
  EXPECT_FALSE(MakeChunker({Algorithm::kFastCdc2016, 64, 64, 1024, 1, 0}).has_value());
  EXPECT_TRUE(ValidateParams(Params{}).ok());
}

TEST(ChunkerParamsTest, ParsesAlgorithmNames) {
  EXPECT_EQ(ParseAlgorithm("fixed").value(), Algorithm::kFixed);
  EXPECT_EQ(ParseAlgorithm("fastcdc2020").value(), Algorithm::kFastCdc2020);
  EXPECT_EQ(ParseAlgorithm("rabin").error().message(),
            "unknown chunking algorithm 'rabin' (expected fastcdc2020, fastcdc2016 or fixed)");
}

}  // namespace
}  // namespace ferry::chunker
