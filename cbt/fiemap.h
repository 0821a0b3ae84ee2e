// Changes between two reflink copies of a volume file (XFS, btrfs), from their FIEMAP extent
// maps: where both copies map a byte to the same physical block, or both have a hole, it is
// unchanged; everything else may have changed. A copy-on-write file system gives a rewritten
// block new physical space, so this finds changes without reading any data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

#include "cbt/changed_list.h"

namespace ferry::cbt {

struct PhysicalExtent {
  uint64_t logical = 0;
  uint64_t physical = 0;
  uint64_t length = 0;
  // Where the physical location cannot be compared (delayed allocation, inline or encoded data,
  // unknown location): such bytes always count as changed.
  bool comparable = true;
};

// The FIEMAP extents of `path`, after flushing its dirty data (FIEMAP_FLAG_SYNC: fresh data has
// no physical location until then). Errors: kNotSupported naming the path where the file system
// has no FIEMAP; errno errors naming the path.
Result<std::vector<PhysicalExtent>> ReadFiemap(const std::string& path);

// Byte ranges of [0, current_size) that may differ between two files with these extent maps.
ExtentList CompareExtentMaps(const std::vector<PhysicalExtent>& previous,
                             const std::vector<PhysicalExtent>& current, uint64_t current_size);

// The changes of `current` since `previous`, its reflink copy of the parent's time, with the
// size of `current` as the volume size. Errors: those of ReadFiemap; kInvalidArgument if the
// files are on different file systems (physical locations are not comparable).
Result<ChangedBlocks> FiemapChanges(const std::string& current, const std::string& previous);

}  // namespace ferry::cbt
