// Prune: reclaims the space of forgotten snapshots with the two-phase protocol of
// docs/FORMAT.md §14, safe while backups run and never making them wait.
//
// One run: finishes earlier prune records whose jobs are done (phase 2), then marks what the
// snapshots use, repacks mostly-unused packs and records the unused ones (phase 1), and, if no
// job that started before that record still runs, deletes them at once (phase 2 again).
// Otherwise the next run deletes them. Last, it deletes the temporaries that killed writers
// left (a pack half written, a lock never renamed) once nothing has written to them for the
// stale-lock time: a live writer writes its temporaries in seconds and renames them at once.
//
// Memory: the mark phase keeps a compact filter of used chunks (about 1.2 bytes per chunk), a
// small record per pack, and the locations of map pages only; index objects are streamed.
#pragma once

#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "engine/progress.h"
#include "engine/repo_lock.h"
#include "engine/repository.h"

namespace ferry {

struct PruneOptions {
  // Packs whose unused share of bytes is at least this are repacked (their used chunks copied
  // to new packs) so the rest can go. 1.0 repacks nothing but wholly unused packs disappear.
  double repack_unused = 0.25;
  // Report what phase 1 would do; write and delete nothing.
  bool dry_run = false;
  LockTiming lock_timing = LockTiming::FromEnvironment();
  const CancelToken* cancel = nullptr;
  ProgressFn progress;  // Bytes of packs repacked.
};

struct PruneReport {
  uint64_t snapshots = 0;     // Marked in phase 1.
  uint64_t packs = 0;         // In data/ at phase 1.
  uint64_t packs_unused = 0;  // Used by no snapshot (including unindexed leftovers).
  uint64_t packs_repacked = 0;
  uint64_t bytes_repacked = 0;  // Copied into new packs.
  uint64_t chunks_repacked = 0;
  uint64_t packs_deleted = 0;  // By phase 2 in this run.
  uint64_t bytes_deleted = 0;
  uint64_t packs_revived = 0;  // Candidates a snapshot newer than their record uses.
  uint64_t index_objects_rewritten = 0;
  uint64_t packs_retained = 0;      // Unused or to repack, but still under Object Lock.
  uint64_t retention_extended = 0;  // Objects whose Object Lock was extended.
  uint64_t records_finished = 0;
  uint64_t records_pending = 0;  // Left for a later run.
  uint64_t filter_bytes = 0;     // Memory of the mark filter.
  // Temporaries of writers killed before they published (Transport::ListLeftovers), not
  // written to for the lock's stale time: deleted (counted only, in a dry run).
  uint64_t leftovers_removed = 0;
  uint64_t leftover_bytes_removed = 0;
  std::vector<std::string> waiting;   // Why a record must wait ("backup lock of host h …").
  std::vector<std::string> messages;  // Stale locks removed, packs that could not be repacked.
};

// Errors: kUnavailable when another prune or repair holds the repository; kCorruption when a
// snapshot's map cannot be read (prune refuses to guess what is used: run check and repair);
// the transport's; kCancelled.
Result<PruneReport> Prune(Repository& repository, const PruneOptions& options);

}  // namespace ferry
