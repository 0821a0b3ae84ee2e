// Repair index: rebuilds the index from the packs themselves (docs/FORMAT.md §14.4). Packs are
// self-describing, so a lost, damaged or inconsistent index is recoverable; packs a killed backup
// left unindexed are adopted (their chunks dedup again).
#pragma once

#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "engine/progress.h"
#include "engine/repository.h"

namespace ferry {

struct RepairIndexOptions {
  const CancelToken* cancel = nullptr;
  ProgressFn progress;  // Packs read (as units of the count).
};

struct RepairIndexReport {
  uint64_t packs = 0;
  uint64_t packs_unreadable = 0;  // Header damaged: old entries kept where there were any.
  uint64_t entries = 0;           // In the new index.
  uint64_t entries_carried = 0;   // Of those, kept from the old index (unreadable headers).
  uint64_t entries_dropped = 0;   // Old entries naming packs that do not exist.
  uint64_t index_objects_written = 0;
  uint64_t index_objects_removed = 0;
  std::vector<std::string> messages;  // One per unreadable pack.
};

// Under an exclusive lock: reads every pack header, writes new index objects covering them, and
// only then deletes the index objects it replaced. A crash leaves both (harmless duplicates).
// Errors: kUnavailable while a prune or another repair runs; the transport's; kCancelled.
Result<RepairIndexReport> RepairIndex(Repository& repository, const RepairIndexOptions& options);

}  // namespace ferry
