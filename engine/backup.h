// Backup: reads volumes, chunks them, stores the new chunks deduplicated, compressed and
// encrypted in packs, and publishes one snapshot naming every volume. The snapshot is written
// last, after every pack, index and map page it needs is durable, so an interrupted backup
// leaves no snapshot and never harms earlier ones; its published packs are indexed in batches
// and reused by the next backup.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "engine/progress.h"
#include "engine/repository.h"
#include "engine/sequential_reader.h"

namespace ferry {

struct BackupSource {
  std::string path;  // File, block device, or "-" for standard input.
  std::string name;  // Volume name in the snapshot (defaults to the path's file name).
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
};

struct BackupResult {
  repo::Snapshot snapshot;
  std::string io_backend;
  std::string fallback_reason;
};

// Backs up `sources` into `repository` (whose index must be loaded). Blocks.
// Errors: from the sources (kNotFound, kPermissionDenied, kIoError naming the path), the
// repository (kNoSpace, kIoError naming the object), kCancelled.
Result<BackupResult> Backup(Repository& repository, const std::vector<BackupSource>& sources,
                            const BackupOptions& options);

}  // namespace ferry
