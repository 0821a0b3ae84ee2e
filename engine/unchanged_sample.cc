#include "engine/unchanged_sample.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "engine/fan_out.h"

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
                                                 const GuestReaderFactory& now,
                                                 const GuestReaderFactory& before,
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
  if (want == 0) return sample;
  // Runs of chosen clusters that follow each other are read as one, up to this much.
  const uint64_t max_run = std::max<uint64_t>(cluster_size, kSampleRunBytes);

  struct Comparer {
    GuestReadFn now, before;
    std::string mine, theirs;
  };
  std::atomic<uint64_t> compared{0}, bytes{0}, mismatches{0};
  auto produce = [&](const std::function<bool(cbt::ByteRange)>& push) -> Status {
    // Selection sampling (Knuth's algorithm S): every cluster equally likely, chosen in volume
    // order without holding the candidates, which for a large volume are millions.
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    uint64_t seen = 0, chosen = 0;
    cbt::ByteRange run{0, 0};
    bool stopped = false;
    auto flush = [&] {
      if (run.length > 0 && !push(run)) stopped = true;
      run = {0, 0};
    };
    Status walked =
        ForEachUnchangedCluster(data, changed, cluster_size, [&](uint64_t begin, uint64_t end) {
          const uint64_t left = sample.candidates - seen++;
          if (stopped ||
              static_cast<double>(left) * uniform(rng) >= static_cast<double>(want - chosen)) {
            return Status();
          }
          if (cancel != nullptr && cancel->cancelled()) {
            return Status::Cancelled("backup was cancelled while checking the change source");
          }
          ++chosen;
          if (run.length > 0 && (run.end() != begin || run.length + (end - begin) > max_run)) {
            flush();
          }
          if (run.length == 0) run.offset = begin;
          run.length += end - begin;
          return Status();
        });
    if (walked.ok()) flush();
    return walked;
  };
  auto open = [&]() -> Result<Comparer> {
    Comparer c;
    FERRY_ASSIGN_OR_RETURN(c.now, now());
    FERRY_ASSIGN_OR_RETURN(c.before, before());
    return c;
  };
  auto consume = [&](Comparer& c, cbt::ByteRange& run) -> Status {
    const size_t len = static_cast<size_t>(run.length);
    c.mine.resize(len);
    c.theirs.resize(len);
    FERRY_RETURN_IF_ERROR(c.now(AsWritableBytes(c.mine), run.offset));
    FERRY_RETURN_IF_ERROR(c.before(AsWritableBytes(c.theirs), run.offset));
    // A run starts on a cluster boundary, so its clusters are its cluster-sized pieces.
    for (size_t at = 0; at < len; at += static_cast<size_t>(cluster_size)) {
      const size_t n = std::min(len - at, static_cast<size_t>(cluster_size));
      ++compared;
      if (std::memcmp(c.mine.data() + at, c.theirs.data() + at, n) != 0) ++mismatches;
    }
    bytes += len;
    return Status();
  };
  FERRY_RETURN_IF_ERROR((FanOut<cbt::ByteRange, Comparer>(
      static_cast<unsigned>(std::min<uint64_t>(kSampleReaders, want)), produce, open, consume)));
  sample.compared = compared;
  sample.bytes = bytes;
  sample.mismatches = mismatches;
  return sample;
}

}  // namespace ferry
