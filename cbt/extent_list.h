// Byte ranges of a volume, sorted and non-overlapping: what to read, what changed, what is
// allocated. Every CBT source produces one.
#pragma once

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

}  // namespace ferry::cbt
