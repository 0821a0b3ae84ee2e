// Backup: reads volumes, chunks them, stores the new chunks deduplicated, compressed and
// encrypted in packs, and publishes one snapshot naming every volume. The snapshot is written
// last, after every pack, index and map page it needs is durable, so an interrupted backup
// leaves no snapshot and never harms earlier ones; its published packs are indexed in batches
// and reused by the next backup.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "cbt/changed_list.h"
#include "engine/progress.h"
#include "engine/repo_lock.h"
#include "engine/repository.h"
#include "engine/volume_source.h"

namespace ferry {

// An incremental backup of one volume: the parent volume and what changed since it.
struct IncrementalSource {
  repo::Snapshot parent;       // The snapshot holding the parent volume.
  std::string parent_volume;   // Its name in `parent`.
  cbt::ChangedBlocks changes;  // Byte ranges that may differ from the parent.
  std::string cbt;             // Where `changes` came from, for the snapshot ("list:FILE", …).
  // No change tracking: read the volume, hash it block by block, and take as changed the blocks
  // whose hashes differ from the parent's (`changes` is then unused).
  bool hash_diff = false;
  // Why the change source must not be believed (a QCOW2 bitmap its writer never saved, …): the
  // volume is then read in full, the backup warns, and the snapshot records the fall-back.
  std::string untrusted;
};

struct BackupSource {
  BackupSource() = default;
  BackupSource(std::string p, std::string n = {}) : path(std::move(p)), name(std::move(n)) {}

  std::string path;  // File, block device, or "-" for standard input.
  std::string name;  // Volume name in the snapshot (defaults to the path's file name).
  // How to read the path: kAuto reads QCOW2 images (by their magic) as the guest sees them.
  qcow2::ImageFormat format = qcow2::ImageFormat::kAuto;
  // Read only what changed since a parent (a seekable source only); everything else is taken
  // from the parent's map without reading. Unset: a full read (dedup still stores only what is
  // new).
  std::optional<IncrementalSource> incremental;
};

// The name a source's volume gets in the snapshot: its name, else the path's file name ("stdin"
// for "-"; the export name, or "nbd" without one, for an NBD URI).
std::string VolumeName(const BackupSource& source);

// The volume names of one snapshot's sources, which must differ: a snapshot's volumes are
// restored by name, and a second of the same name could never be.
class DistinctVolumeNames {
 public:
  // Errors: kInvalidArgument naming both sources when another source has `volume` already.
  Status Add(const std::string& path, const std::string& volume);

 private:
  std::map<std::string, std::string> path_of_;  // Volume name → the source that has it.
};

struct BackupOptions {
  std::vector<std::string> tags;
  std::string hostname;  // Defaults to gethostname().
  unsigned threads = 0;  // Workers for hash/compress/encrypt; 0 = cores.
  // Memory for data in flight: read-ahead buffers plus chunks queued for the workers. Packs are
  // streamed, so this and the workers' codec state are what a backup holds. At least 16 MiB.
  size_t memory_bytes = 40u << 20;
  io::BackendKind io_backend = io::BackendKind::kAuto;
  const CancelToken* cancel = nullptr;
  ProgressFn progress;
  // Packs published between index writes (an interrupted backup loses at most this many).
  unsigned index_every_packs = 4;
  // Incremental backups: re-read this percentage of what the CBT calls unchanged (whole parent
  // chunks picked at random) and compare with the parent; on any mismatch the volume is read
  // in full instead, with a warning, and the snapshot records it.
  double cbt_verify_percent = 0;
  // zstd level for the chunks this backup stores (1-19; 0 stores them uncompressed), if not
  // the repository's. Any level reads back the same way: a fast level for frequent incrementals,
  // 0 for volumes of data that is compressed or encrypted already.
  std::optional<int> compression_level;
  // How often the backup's lock is refreshed and when others may take it for dead.
  LockTiming lock_timing = LockTiming::FromEnvironment();
};

struct BackupResult {
  repo::Snapshot snapshot;
  std::string io_backend;
  std::string fallback_reason;
  // Things the user must hear about though the backup succeeded (a CBT that failed its check).
  std::vector<std::string> warnings;
};

// Backs up `sources` into `repository`. Announces itself with a lock (docs/FORMAT.md §14.2) and
// reloads the repository's index, leaving out packs a prune is deleting. Blocks.
// Errors: from the sources (kNotFound, kPermissionDenied, kIoError naming the path), the
// repository (kNoSpace, kIoError naming the object), kCancelled; kInvalidArgument for a CBT
// that does not fit its volume or an incremental source that is a pipe (before anything is
// written); kNotFound for a parent volume that is not in its snapshot.
Result<BackupResult> Backup(Repository& repository, const std::vector<BackupSource>& sources,
                            const BackupOptions& options);

}  // namespace ferry
