// Restore: writes a volume of a snapshot to a new sparse file, a block device or standard
// output, verifying every chunk against its id. To a file or device, chunks are read from their
// packs in coalesced ranges by several threads and written at their offsets in any order; zero
// and hole extents are left as holes on files and written as zeros on devices.
#pragma once

#include <string>

#include "common/cancel.h"
#include "common/result.h"

#include "engine/progress.h"
#include "engine/repository.h"
#include "formats/repo/volume_map.h"

namespace ferry {

struct RestoreOptions {
  unsigned threads = 0;  // 0 = cores, at least 2.
  // Largest ranged read of a pack; adjacent chunks of a pack are read together up to this.
  size_t max_read = 8u << 20;
  const CancelToken* cancel = nullptr;
  ProgressFn progress;
  bool overwrite = false;  // Allow replacing an existing regular file.
};

struct RestoreResult {
  uint64_t size = 0;
  uint64_t bytes_written = 0;  // Chunk bytes written (holes and zeros excluded on files).
  uint64_t chunks = 0;
  double seconds = 0;
};

// Restores volume `volume_name` of `snapshot` (the only volume if empty) to `target` ("-" for
// standard output). The repository's index must be loaded. Blocks.
// Errors: kNotFound (volume), kAlreadyExists (target file exists without overwrite),
// kCorruption naming the pack and chunk, kNoSpace / kIoError naming the target, kCancelled.
Result<RestoreResult> Restore(Repository& repository, const repo::Snapshot& snapshot,
                              const std::string& volume_name, const std::string& target,
                              const RestoreOptions& options);

// The extents of a volume, read from its map pages and checked to tile it.
Result<std::vector<repo::Extent>> LoadVolumeMap(Repository& repository,
                                                const repo::SnapshotVolume& volume);

}  // namespace ferry
