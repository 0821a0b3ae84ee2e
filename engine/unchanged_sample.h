// --cbt-verify for the qcow2 layout: whether what a change source calls unchanged is unchanged.
// A random share of the clusters that hold data now or in the previous backup, and that no
// changed range touches, is read from the volume and from the previous backup's image chain and
// compared byte for byte (the layout stores plain bytes, so no keyed ids are needed), several
// reads in flight.
#pragma once

#include <cstdint>

#include "common/cancel.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "engine/guest_copy.h"

namespace ferry {

struct UnchangedSample {
  uint64_t candidates = 0;  // Clusters the change source calls unchanged that hold data.
  uint64_t compared = 0;    // Of those, read and compared.
  uint64_t bytes = 0;       // Bytes compared (from each side).
  uint64_t mismatches = 0;  // Compared clusters that differ.
};

// Reads in flight at once, each worker with its own pair of readers.
inline constexpr unsigned kSampleReaders = 8;
// Chosen clusters that follow each other are read together, up to this many bytes a read.
inline constexpr uint64_t kSampleRunBytes = 1u << 20;

// Compares `percent` (0-100, rounded up to whole clusters) of the clusters of size
// `cluster_size` that overlap `data` (sorted ranges that hold data in either version, within
// the part both versions share) and no range of `changed` (sorted, non-overlapping). A cluster
// is clipped to the end of `data`'s last range. `now` opens readers of the volume, `before` of
// the previous backup, one of each per worker (called from the workers, possibly at once).
// Errors: the readers'; kCancelled.
Result<UnchangedSample> CompareUnchangedClusters(const cbt::ExtentList& data,
                                                 const cbt::ExtentList& changed,
                                                 uint64_t cluster_size, double percent,
                                                 const GuestReaderFactory& now,
                                                 const GuestReaderFactory& before,
                                                 const CancelToken* cancel);

}  // namespace ferry
