// --cbt-verify's sample for the qcow2 layout: which clusters are candidates, how many are
// compared, that a difference is found, and that the reads are in flight together.
#include "engine/unchanged_sample.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace ferry {
namespace {

constexpr uint64_t kCluster = 64 << 10;

// What readers of one side were asked for: the clusters they covered, how many reads, and the
// most that were in progress at once. A reader may hold each read until `hold_until_active`
// reads are in progress together (or two seconds have passed once; then no read waits again).
struct ReadLog {
  std::mutex mu;
  std::condition_variable cv;
  std::set<uint64_t> clusters;  // GUARDED_BY(mu)
  uint64_t reads = 0;           // GUARDED_BY(mu)
  int active = 0;               // GUARDED_BY(mu)
  int most = 0;                 // GUARDED_BY(mu)
  int hold_until_active = 0;
  bool gave_up = false;  // GUARDED_BY(mu)
};

// Readers over `bytes`, each recording into `log` (optional).
GuestReaderFactory ReadersOver(const std::string& bytes, ReadLog* log) {
  return [&bytes, log]() -> Result<GuestReadFn> {
    return GuestReadFn([&bytes, log](MutableByteView out, uint64_t offset) {
      if (log != nullptr) {
        std::unique_lock lock(log->mu);
        ++log->reads;
        for (uint64_t c = offset / kCluster; c * kCluster < offset + out.size(); ++c) {
          log->clusters.insert(c);
        }
        log->most = std::max(log->most, ++log->active);
        log->cv.notify_all();
        if (!log->gave_up && log->most < log->hold_until_active &&
            !log->cv.wait_for(lock, std::chrono::seconds(2),
                              [&] { return log->most >= log->hold_until_active; })) {
          log->gave_up = true;
        }
        --log->active;
      }
      if (offset + out.size() > bytes.size()) return Status::IoError("read past the end");
      std::memcpy(out.data(), bytes.data() + offset, out.size());
      return Status();
    });
  };
}

TEST(UnchangedSampleTest, EveryUnchangedClusterWithDataIsACandidateOnce) {
  const std::string volume(24 * kCluster, 'v');
  // Data in clusters 0-9 and in the middle of 20 to the end of 22 (two ranges share cluster 21);
  // the change source names part of cluster 3 and all of 6-7.
  const cbt::ExtentList data = {
      {0, 10 * kCluster}, {20 * kCluster + 100, kCluster}, {21 * kCluster + 200, kCluster}};
  const cbt::ExtentList changed = {{3 * kCluster + 5, 10}, {6 * kCluster, 2 * kCluster}};
  ReadLog log;
  auto all = CompareUnchangedClusters(data, changed, kCluster, 100, ReadersOver(volume, &log),
                                      ReadersOver(volume, nullptr), nullptr);
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_EQ(all->candidates, 10u - 3u + 3u);  // 0-9 less 3, 6, 7; then 20, 21, 22.
  EXPECT_EQ(all->compared, all->candidates);
  EXPECT_EQ(all->mismatches, 0u);
  // The last cluster ends where the data ends.
  EXPECT_EQ(all->bytes, 9 * kCluster + 200);
  for (uint64_t c : {3u, 6u, 7u, 10u, 19u, 23u}) EXPECT_EQ(log.clusters.count(c), 0u) << c;
  EXPECT_EQ(log.clusters.size(), all->candidates);

  auto none = CompareUnchangedClusters(data, changed, kCluster, 0, ReadersOver(volume, nullptr),
                                       ReadersOver(volume, nullptr), nullptr);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->compared, 0u);
  // A share is rounded up to whole clusters: 25% of 10 is 3.
  auto some = CompareUnchangedClusters(data, changed, kCluster, 25, ReadersOver(volume, nullptr),
                                       ReadersOver(volume, nullptr), nullptr);
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(some->compared, 3u);
}

TEST(UnchangedSampleTest, ADifferenceTheChangeSourceMissedIsFoundAndSamplesVary) {
  std::string before(64 * kCluster, 'b');
  std::string now = before;
  now[17 * kCluster + 5] = 'x';  // Unreported, and in the same read as the next one.
  now[18 * kCluster + 9] = 'y';
  const cbt::ExtentList data = {{0, now.size()}};
  ReadLog log;
  auto full = CompareUnchangedClusters(data, {}, kCluster, 100, ReadersOver(now, &log),
                                       ReadersOver(before, nullptr), nullptr);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->compared, 64u);
  EXPECT_EQ(full->mismatches, 2u);  // Counted by cluster, not by read.
  // Clusters that follow each other are read together, a MiB at a time.
  EXPECT_EQ(log.reads, 64 * kCluster / kSampleRunBytes);
  // A 10% sample (7 clusters) picks different clusters from run to run: over 40 runs the
  // clusters read cover far more than one run's.
  ReadLog many;
  for (int run = 0; run < 40; ++run) {
    auto sample = CompareUnchangedClusters(data, {}, kCluster, 10, ReadersOver(now, &many),
                                           ReadersOver(before, nullptr), nullptr);
    ASSERT_TRUE(sample.has_value());
    EXPECT_EQ(sample->compared, 7u);
  }
  EXPECT_GT(many.clusters.size(), 40u);
}

TEST(UnchangedSampleTest, ReadsAreInFlightTogether) {
  // Every other cluster holds data, so no two sampled clusters are read as one.
  const std::string volume(64 * kCluster, 'v');
  cbt::ExtentList data;
  for (uint64_t c = 0; c < 64; c += 2) data.push_back({c * kCluster, kCluster});
  ReadLog log;
  log.hold_until_active = 4;
  auto sample = CompareUnchangedClusters(data, {}, kCluster, 100, ReadersOver(volume, &log),
                                         ReadersOver(volume, nullptr), nullptr);
  ASSERT_TRUE(sample.has_value()) << sample.error().ToString();
  EXPECT_EQ(sample->compared, 32u);
  EXPECT_EQ(log.reads, 32u);
  EXPECT_GE(log.most, 4) << "reads of the volume in progress at once";
}

TEST(UnchangedSampleTest, ReadErrorsAndCancellationEndTheSample) {
  const std::string shorter(2 * kCluster, 's'), longer(4 * kCluster, 's');
  auto failed = CompareUnchangedClusters({{0, longer.size()}}, {}, kCluster, 100,
                                         ReadersOver(longer, nullptr),
                                         ReadersOver(shorter, nullptr), nullptr);
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message().find("read past the end"), std::string::npos);
  // A reader that cannot be opened fails the sample, naming why.
  auto unopened = CompareUnchangedClusters(
      {{0, longer.size()}}, {}, kCluster, 100, ReadersOver(longer, nullptr),
      []() -> Result<GuestReadFn> { return Err(Status::NotFound("no such image")); }, nullptr);
  ASSERT_FALSE(unopened.has_value());
  EXPECT_NE(unopened.error().message().find("no such image"), std::string::npos);
  CancelToken cancel;
  cancel.Cancel();
  auto cancelled =
      CompareUnchangedClusters({{0, longer.size()}}, {}, kCluster, 100,
                               ReadersOver(longer, nullptr), ReadersOver(longer, nullptr), &cancel);
  ASSERT_FALSE(cancelled.has_value());
  EXPECT_EQ(cancelled.error().code(), Status::Code::kCancelled);
}

}  // namespace
}  // namespace ferry
