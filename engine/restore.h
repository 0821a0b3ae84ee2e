// Restore: writes a volume of a snapshot to a new sparse file, a block device or standard
// output, verifying every chunk against its id. The volume is cut into windows that end where
// chunks end (whole clusters for a QCOW2 image); worker threads read each window's chunks from
// their packs in coalesced ranges, decode them straight into the window's buffer, and a
// WindowWriter writes the windows through io_uring (O_DIRECT where possible) in any order, or in
// volume order to a stream. Zero and hole extents stay holes on files and are written as zeros
// on devices.
//
// A delta restore rewrites an existing target in place: each window of the target is read and
// compared chunk by chunk (keyed ids), and only the chunks that differ are fetched and written.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "engine/progress.h"
#include "engine/qcow2_export.h"
#include "engine/repo_lock.h"
#include "engine/repository.h"
#include "formats/repo/volume_map.h"
#include "transports/transport.h"

namespace ferry {

struct RestoreOptions {
  unsigned threads = 0;  // 0 = chosen by ShapeRestore.
  // Largest ranged read of a pack; adjacent chunks of a pack are read together up to this.
  // 0 = twice the window.
  size_t max_read = 0;
  const CancelToken* cancel = nullptr;
  ProgressFn progress;
  bool overwrite = false;  // Allow replacing an existing regular file.
  // Volume bytes per window (a multiple of 4096): the unit of decoding, comparing and writing.
  // 0 = chosen by ShapeRestore.
  size_t window = 0;

  // Rewrite the existing target, writing only what differs from the snapshot. A regular file
  // is resized to the volume; a device must be at least as large.
  bool delta = false;
  // With delta: the only byte ranges of the target that may differ from the snapshot (the
  // target's changes since it was restored or backed up). Windows outside them are not read.
  // Unset, a file target's holes are still not read where the snapshot holds no data there.
  std::optional<cbt::ExtentList> target_changes;

  // Write a new QCOW2 image (a file) instead of the raw volume: standalone, or an overlay of a
  // backing image. Not with delta.
  std::optional<Qcow2ExportOptions> qcow2;

  // How often the restore's read lock is refreshed and when others may take it for dead.
  LockTiming lock_timing = LockTiming::FromEnvironment();
};

// How a restore to a file or device is cut up.
struct RestoreShape {
  size_t window = 0;     // Volume bytes per window.
  size_t max_read = 0;   // Largest ranged read of a pack.
  unsigned threads = 0;  // Workers, each filling one window at a time.
  unsigned buffers = 0;  // Window buffers: those being filled and those being written.
};

// The shape of a restore: what `options` sets, and for what it leaves at 0, what suits a
// transport with `caps` on a machine with `cores`. Windows are 4 MiB, or the transport's
// efficient read where that is larger (each window's chunks are fetched in ranged reads of
// their packs, so larger windows mean fewer, larger requests); workers are the cores, more
// for a transport that wants requests in flight, up to about 64 MiB of windows; two buffers a
// worker, within 96 MiB where the windows are large.
RestoreShape ShapeRestore(const RestoreOptions& options, const TransportCapabilities& caps,
                          unsigned cores);

struct RestoreResult {
  uint64_t size = 0;
  uint64_t bytes_written = 0;    // Bytes written to the target (whole blocks around chunks).
  uint64_t chunks = 0;           // Chunks read from the repository.
  uint64_t bytes_compared = 0;   // Delta: target bytes read and compared.
  std::string io_backend;        // "io_uring" or "psync" (files and devices).
  bool direct = false;           // Writes bypassed the page cache (O_DIRECT).
  uint64_t clusters = 0;         // QCOW2: clusters stored (uncompressed and compressed).
  uint64_t pack_reads = 0;       // Ranged reads of packs (requests, on a remote repository).
  uint64_t pack_bytes_read = 0;  // What those reads fetched.
  RestoreShape shape;            // Files and devices: how the restore was cut up.
  double seconds = 0;
  std::vector<std::string> warnings;  // From taking the read lock (stale locks removed...).
};

// Restores volume `volume_name` of `snapshot` (the only volume if empty) to `target` ("-" for
// standard output). Announces itself with a read lock held until it returns and reloads the
// repository's index under it (docs/FORMAT.md §14.2), so a prune that starts meanwhile — even
// one that deletes this snapshot's packs after a forget — leaves them until the restore ends.
// Reloading replaces `repository`'s index: no other job may use the same Repository object at
// the same time. Blocks.
// Errors: kNotFound (volume; a delta target that does not exist), kAlreadyExists (target
// file exists without overwrite or delta), kInvalidArgument (a delta target too small or not a
// file or device),
// kCorruption naming the pack and chunk, kNoSpace / kIoError naming the target, kCancelled.
Result<RestoreResult> Restore(Repository& repository, const repo::Snapshot& snapshot,
                              const std::string& volume_name, const std::string& target,
                              const RestoreOptions& options);

// Where a restore's windows begin, and the volume's size last: windows of at most `window`
// bytes that end where a chunk ends, so no chunk is fetched and decoded for two windows (only a
// chunk longer than a window spans several); elsewhere they end on a block boundary.
// `extents` tile a volume of `size` bytes.
std::vector<uint64_t> CutWindowsAtChunks(const std::vector<repo::Extent>& extents, uint64_t size,
                                         size_t window);

// The extents of a volume, read from its map pages and checked to tile it.
Result<std::vector<repo::Extent>> LoadVolumeMap(Repository& repository,
                                                const repo::SnapshotVolume& volume);

}  // namespace ferry
