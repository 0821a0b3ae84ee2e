// Byte ranges of a volume, sorted and non-overlapping: what to read, what changed, what is
// allocated. Every CBT source produces one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ferry::cbt {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};

using ExtentList = std::vector<ByteRange>;

// Whether any range of `sorted` (sorted, non-overlapping) overlaps [begin, end).
inline bool Overlaps(const ExtentList& sorted, uint64_t begin, uint64_t end) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), begin,
                             [](uint64_t v, const ByteRange& r) { return v < r.end(); });
  return it != sorted.end() && it->offset < end;
}

}  // namespace ferry::cbt
