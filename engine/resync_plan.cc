#include "engine/resync_plan.h"

#include <algorithm>

#include "cbt/changed_list.h"
#include "chunker/chunker.h"

namespace ferry {

using repo::Extent;
using repo::ExtentKind;

ResyncPlan::ResyncPlan(std::vector<Extent> parent, cbt::ExtentList dirty)
    : parent_(std::move(parent)), dirty_(std::move(dirty)) {
  // A run of consecutive non-hole extents is one allocated range of the parent: its chunk chain
  // started at the run's start and its last chunk was cut by the run's end.
  range_end_.assign(parent_.size(), 0);
  size_t i = parent_.size();
  uint64_t end = 0;
  while (i-- > 0) {
    const Extent& e = parent_[i];
    if (e.kind == ExtentKind::kHole) continue;
    const bool last_of_run = i + 1 == parent_.size() || parent_[i + 1].kind == ExtentKind::kHole;
    if (last_of_run) end = e.offset + e.length;
    range_end_[i] = end;
  }
}

long ResyncPlan::ExtentAt(uint64_t pos) const {
  auto it = std::lower_bound(parent_.begin(), parent_.end(), pos,
                             [](const Extent& e, uint64_t v) { return e.offset < v; });
  if (it == parent_.end() || it->offset != pos) return -1;
  return it - parent_.begin();
}

bool ResyncPlan::Clean(uint64_t begin, uint64_t end) const {
  return !cbt::Overlaps(dirty_, begin, end);
}

const Extent* ResyncPlan::Reusable(uint64_t pos, uint64_t range_end) const {
  const long i = ExtentAt(pos);
  if (i < 0) return nullptr;
  const Extent& e = parent_[static_cast<size_t>(i)];
  if (e.kind == ExtentKind::kHole) return nullptr;
  const uint64_t end = e.offset + e.length;
  if (end < range_end_[static_cast<size_t>(i)]) {
    // Cut by content or size: the cut depends on the bytes up to it, and on kMaxCutLag more.
    if (end >= range_end) return nullptr;
    return Clean(pos, end + chunker::kMaxCutLag) ? &e : nullptr;
  }
  // The parent's range ended here: the new one must end here too.
  return end == range_end && Clean(pos, end) ? &e : nullptr;
}

uint64_t ResyncPlan::NextSyncPoint(uint64_t pos, uint64_t range_end) const {
  auto it = std::upper_bound(parent_.begin(), parent_.end(), pos,
                             [](uint64_t v, const Extent& e) { return v < e.offset; });
  for (; it != parent_.end() && it->offset < range_end; ++it) {
    if (Reusable(it->offset, range_end) != nullptr) return it->offset;
  }
  return range_end;
}

cbt::ExtentList ResyncPlan::ReadRanges(const cbt::ExtentList& allocated, uint64_t align) const {
  cbt::ExtentList out;
  for (const cbt::ByteRange& r : allocated) {
    uint64_t pos = r.offset;
    while (pos < r.end()) {
      if (const Extent* e = Reusable(pos, r.end())) {
        pos = e->offset + e->length;
        continue;
      }
      const uint64_t sync = NextSyncPoint(pos, r.end());
      const uint64_t begin = std::max(r.offset, pos / align * align);
      const uint64_t end =
          std::min(r.end(), (sync + chunker::kMaxCutLag + align - 1) / align * align);
      out.push_back({begin, end - begin});
      pos = sync;
    }
  }
  return cbt::Normalize(std::move(out));
}

cbt::ExtentList AllocationChanges(const std::vector<Extent>& parent,
                                  const cbt::ExtentList& allocated) {
  cbt::ExtentList before;
  for (const Extent& e : parent) {
    if (e.kind != ExtentKind::kHole) before.push_back({e.offset, e.length});
  }
  before = cbt::Normalize(std::move(before));
  // Symmetric difference of two sorted, merged lists: sweep their boundaries.
  std::vector<std::pair<uint64_t, int>> edges;
  for (const auto& r : before) {
    edges.push_back({r.offset, 1});
    edges.push_back({r.end(), -1});
  }
  for (const auto& r : allocated) {
    edges.push_back({r.offset, 2});
    edges.push_back({r.end(), -2});
  }
  std::sort(edges.begin(), edges.end());
  cbt::ExtentList out;
  int in_before = 0, in_after = 0;
  uint64_t last = 0;
  for (const auto& [at, what] : edges) {
    if ((in_before > 0) != (in_after > 0) && at > last) out.push_back({last, at - last});
    if (what == 1 || what == -1) in_before += what;
    if (what == 2 || what == -2) in_after += what / 2;
    last = at;
  }
  return cbt::Normalize(std::move(out));
}

}  // namespace ferry
