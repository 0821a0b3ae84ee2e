#include "engine/unchanged_sample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

namespace ferry {

namespace {

// Calls `fn(begin, end)` for each cluster that overlaps `data` and no range of `changed`, in
// volume order, each cluster once, clipped to the end of `data`.
template <typename Fn>
Status ForEachUnchangedCluster(const cbt::ExtentList& data, const cbt::ExtentList& changed,
                               uint64_t cluster_size, Fn&& fn) {
  if (data.empty()) return Status();
  const uint64_t limit = data.back().end();
  uint64_t next = 0;  // First cluster not yet visited.
  for (const cbt::ByteRange& r : data) {
    const uint64_t last = (r.end() + cluster_size - 1) / cluster_size;
    for (uint64_t c = std::max(next, r.offset / cluster_size); c < last; ++c) {
      const uint64_t begin = c * cluster_size;
      const uint64_t end = std::min(begin + cluster_size, limit);
      if (cbt::Overlaps(changed, begin, end)) continue;
      FERRY_RETURN_IF_ERROR(fn(begin, end));
    }
    next = std::max(next, last);
  }
  return Status();
}

}  // namespace

Result<UnchangedSample> CompareUnchangedClusters(const cbt::ExtentList& data,
                                                 const cbt::ExtentList& changed,
                                                 uint64_t cluster_size, double percent,
                                                 const GuestReadFn& now, const GuestReadFn& before,
                                                 const CancelToken* cancel) {
  UnchangedSample sample;
  FERRY_RETURN_IF_ERROR(
      ForEachUnchangedCluster(data, changed, cluster_size, [&](uint64_t, uint64_t) {
        ++sample.candidates;
        return Status();
      }));
  const double share = std::clamp(percent, 0.0, 100.0) / 100.0;
  const auto want =
      static_cast<uint64_t>(std::ceil(static_cast<double>(sample.candidates) * share));
  // Selection sampling (Knuth's algorithm S): every cluster equally likely, chosen in volume
  // order without holding the candidates, which for a large volume are millions.
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  uint64_t seen = 0;
  std::string mine(cluster_size, '\0'), theirs(cluster_size, '\0');
  auto compare = [&](uint64_t begin, uint64_t end) -> Status {
    const uint64_t left = sample.candidates - seen++;
    if (static_cast<double>(left) * uniform(rng) >= static_cast<double>(want - sample.compared)) {
      return Status();
    }
    if (cancel != nullptr && cancel->cancelled()) {
      return Status::Cancelled("backup was cancelled while checking the change source");
    }
    const size_t len = static_cast<size_t>(end - begin);
    FERRY_RETURN_IF_ERROR(now(AsWritableBytes(mine).subspan(0, len), begin));
    FERRY_RETURN_IF_ERROR(before(AsWritableBytes(theirs).subspan(0, len), begin));
    ++sample.compared;
    sample.bytes += len;
    if (std::memcmp(mine.data(), theirs.data(), len) != 0) ++sample.mismatches;
    return Status();
  };
  FERRY_RETURN_IF_ERROR(ForEachUnchangedCluster(data, changed, cluster_size, compare));
  return sample;
}

}  // namespace ferry
