#include "chunker/fixed.h"

#include <gtest/gtest.h>

#include "chunker/chunker_test_util.h"

namespace ferry::chunker {
namespace {

TEST(FixedChunkerTest, CutsEverySizeBytesAndKeepsTheTail) {
  Params p;
  p.algorithm = Algorithm::kFixed;
  p.avg_size = 4096;
  const std::string data(3 * 4096 + 100, 'x');
  EXPECT_EQ(CutsWhole(p, data), (std::vector<uint64_t>{4096, 8192, 12288, 12388}));
}

TEST(FixedChunkerTest, ExactMultipleHasNoEmptyTail) {
  Params p;
  p.algorithm = Algorithm::kFixed;
  p.avg_size = 1024;
  EXPECT_EQ(CutsWhole(p, std::string(2048, 'a')), (std::vector<uint64_t>{1024, 2048}));
}

}  // namespace
}  // namespace ferry::chunker
