#include "cbt/fiemap.h"

#include <gtest/gtest.h>

namespace ferry::cbt {
namespace {

TEST(FiemapCompareTest, SharedBlocksAndCommonHolesAreUnchanged) {
  // Previous: [0, 8192) at 100000, hole, [12288, 16384) at 500000.
  const std::vector<PhysicalExtent> before = {{0, 100000, 8192, true}, {12288, 500000, 4096, true}};
  // Current: the first 4 KiB still shared, the next rewritten elsewhere, the hole filled, the
  // last extent shared, then grown by 4 KiB of new data.
  const std::vector<PhysicalExtent> after = {{0, 100000, 4096, true},
                                             {4096, 900000, 8192, true},
                                             {12288, 500000, 4096, true},
                                             {16384, 910000, 4096, true}};
  EXPECT_EQ(CompareExtentMaps(before, after, 20480), (ExtentList{{4096, 8192}, {16384, 4096}}));
  // Identical maps: nothing changed; a hole in both: nothing changed.
  EXPECT_EQ(CompareExtentMaps(before, before, 16384), ExtentList{});
  EXPECT_EQ(CompareExtentMaps({}, {}, 1 << 20), ExtentList{});
}

TEST(FiemapCompareTest, UncomparableExtentsAndShiftedMappingsCountAsChanged) {
  const std::vector<PhysicalExtent> before = {{0, 100000, 8192, true}};
  // Same physical start but mapped at another logical offset: different bytes.
  EXPECT_EQ(CompareExtentMaps(before, {{4096, 100000, 4096, true}}, 8192), (ExtentList{{0, 8192}}));
  // Delayed allocation (no physical location yet) is never trusted.
  EXPECT_EQ(CompareExtentMaps(before, {{0, 100000, 8192, false}}, 8192), (ExtentList{{0, 8192}}));
  // Shrunk: only the current size matters.
  EXPECT_EQ(CompareExtentMaps(before, {{0, 100000, 4096, true}}, 4096), ExtentList{});
}

TEST(FiemapTest, FilesOnAFileSystemWithoutFiemapOrMissingAreClearErrors) {
  auto missing = FiemapChanges("/nonexistent/a", "/nonexistent/b");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("/nonexistent/a"), std::string::npos);
}

}  // namespace
}  // namespace ferry::cbt
