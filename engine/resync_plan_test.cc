#include "engine/resync_plan.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

using repo::Extent;
using repo::ExtentKind;

Extent Chunk(uint64_t offset, uint32_t length) {
  codec::ChunkId id;
  id.bytes[0] = static_cast<unsigned char>(offset);
  return {offset, length, ExtentKind::kChunk, id};
}
Extent Hole(uint64_t offset, uint32_t length) { return {offset, length, ExtentKind::kHole, {}}; }

// Parent: one range [0, 300) cut at 100 and 200, a hole [300, 400), a range [400, 500).
std::vector<Extent> Parent() {
  return {Chunk(0, 100), Chunk(100, 100), Chunk(200, 100), Hole(300, 100), Chunk(400, 100)};
}

TEST(ResyncPlanTest, TakesCleanChunksAndNotTheOnesTouchingChangesOrTheirLagByte) {
  ResyncPlan plan(Parent(), {{150, 10}});
  EXPECT_EQ(plan.Reusable(100, 300), nullptr);  // Holds a change.
  EXPECT_NE(plan.Reusable(200, 300), nullptr);  // Last of its range, range unchanged.
  EXPECT_EQ(plan.Reusable(50, 300), nullptr);   // Not a parent cut.
  ResyncPlan lag(Parent(), {{100, 1}});
  // The cut at 100 was decided looking at byte 100: the chunk before it cannot be taken.
  EXPECT_EQ(lag.Reusable(0, 300), nullptr);
  EXPECT_EQ(lag.NextSyncPoint(0, 300), 200u);
}

TEST(ResyncPlanTest, RangeEndsMustAgree) {
  ResyncPlan plan(Parent(), {});
  EXPECT_NE(plan.Reusable(200, 300), nullptr);
  EXPECT_EQ(plan.Reusable(200, 350), nullptr);  // The range grew: its last chunk changes.
  EXPECT_EQ(plan.Reusable(100, 200), nullptr);  // The range now ends at the chunk's end.
  EXPECT_EQ(plan.Reusable(300, 400), nullptr);  // Holes are never taken.
  EXPECT_NE(plan.Reusable(400, 500), nullptr);
}

TEST(ResyncPlanTest, ReadRangesCoverEachChangeFromItsCutToTheResyncPoint) {
  ResyncPlan plan(Parent(), {{150, 10}});
  EXPECT_EQ(plan.ReadRanges({{0, 300}, {400, 100}}, 1), (cbt::ExtentList{{100, 101}}));
  EXPECT_EQ(plan.ReadRanges({{0, 300}, {400, 100}}, 64), (cbt::ExtentList{{64, 192}}));
}

TEST(ResyncPlanTest, AllocationChangesAreTheSymmetricDifference) {
  EXPECT_EQ(AllocationChanges(Parent(), {{0, 300}, {400, 100}}), cbt::ExtentList{});
  EXPECT_EQ(AllocationChanges(Parent(), {{0, 350}, {450, 100}}),
            (cbt::ExtentList{{300, 50}, {400, 50}, {500, 50}}));
  EXPECT_EQ(AllocationChanges(Parent(), {}), (cbt::ExtentList{{0, 300}, {400, 100}}));
}

}  // namespace
}  // namespace ferry
