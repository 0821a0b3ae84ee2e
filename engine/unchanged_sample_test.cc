// --cbt-verify's sample for the qcow2 layout: which clusters are candidates, how many are
// compared, and that a difference is found.
#include "engine/unchanged_sample.h"

#include <cstring>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace ferry {
namespace {

constexpr uint64_t kCluster = 64 << 10;

// A reader over `bytes` that records which offsets were read.
GuestReadFn ReaderOver(const std::string& bytes, std::set<uint64_t>* reads) {
  return [&bytes, reads](MutableByteView out, uint64_t offset) {
    if (reads != nullptr) reads->insert(offset);
    if (offset + out.size() > bytes.size()) return Status::IoError("read past the end");
    std::memcpy(out.data(), bytes.data() + offset, out.size());
    return Status();
  };
}

TEST(UnchangedSampleTest, EveryUnchangedClusterWithDataIsACandidateOnce) {
  const std::string volume(24 * kCluster, 'v');
  // Data in clusters 0-9 and in the middle of 20 to the end of 22 (two ranges share cluster 21);
  // the change source names part of cluster 3 and all of 6-7.
  const cbt::ExtentList data = {
      {0, 10 * kCluster}, {20 * kCluster + 100, kCluster}, {21 * kCluster + 200, kCluster}};
  const cbt::ExtentList changed = {{3 * kCluster + 5, 10}, {6 * kCluster, 2 * kCluster}};
  std::set<uint64_t> reads;
  auto all = CompareUnchangedClusters(data, changed, kCluster, 100, ReaderOver(volume, &reads),
                                      ReaderOver(volume, nullptr), nullptr);
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_EQ(all->candidates, 10u - 3u + 3u);  // 0-9 less 3, 6, 7; then 20, 21, 22.
  EXPECT_EQ(all->compared, all->candidates);
  EXPECT_EQ(all->mismatches, 0u);
  // The last cluster ends where the data ends.
  EXPECT_EQ(all->bytes, 9 * kCluster + 200);
  for (uint64_t c : {3u, 6u, 7u, 10u, 19u, 23u}) EXPECT_EQ(reads.count(c * kCluster), 0u) << c;

  auto none = CompareUnchangedClusters(data, changed, kCluster, 0, ReaderOver(volume, nullptr),
                                       ReaderOver(volume, nullptr), nullptr);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->compared, 0u);
  // A share is rounded up to whole clusters: 25% of 10 is 3.
  auto some = CompareUnchangedClusters(data, changed, kCluster, 25, ReaderOver(volume, nullptr),
                                       ReaderOver(volume, nullptr), nullptr);
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(some->compared, 3u);
}

TEST(UnchangedSampleTest, ADifferenceTheChangeSourceMissedIsFoundAndSamplesVary) {
  std::string before(64 * kCluster, 'b');
  std::string now = before;
  now[17 * kCluster + 5] = 'x';  // Unreported.
  const cbt::ExtentList data = {{0, now.size()}};
  auto full = CompareUnchangedClusters(data, {}, kCluster, 100, ReaderOver(now, nullptr),
                                       ReaderOver(before, nullptr), nullptr);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->mismatches, 1u);
  // A 10% sample (7 clusters) picks different clusters from run to run: over 40 runs the
  // clusters read cover far more than one run's.
  std::set<uint64_t> reads;
  for (int run = 0; run < 40; ++run) {
    auto sample = CompareUnchangedClusters(data, {}, kCluster, 10, ReaderOver(now, &reads),
                                           ReaderOver(before, nullptr), nullptr);
    ASSERT_TRUE(sample.has_value());
    EXPECT_EQ(sample->compared, 7u);
  }
  EXPECT_GT(reads.size(), 40u);
}

TEST(UnchangedSampleTest, ReadErrorsAndCancellationEndTheSample) {
  const std::string shorter(2 * kCluster, 's'), longer(4 * kCluster, 's');
  auto failed =
      CompareUnchangedClusters({{0, longer.size()}}, {}, kCluster, 100, ReaderOver(longer, nullptr),
                               ReaderOver(shorter, nullptr), nullptr);
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message().find("read past the end"), std::string::npos);
  CancelToken cancel;
  cancel.Cancel();
  auto cancelled =
      CompareUnchangedClusters({{0, longer.size()}}, {}, kCluster, 100, ReaderOver(longer, nullptr),
                               ReaderOver(longer, nullptr), &cancel);
  ASSERT_FALSE(cancelled.has_value());
  EXPECT_EQ(cancelled.error().code(), Status::Code::kCancelled);
}

}  // namespace
}  // namespace ferry
