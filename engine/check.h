// Check: verifies a repository's structure and, with read_data, every stored chunk. Problems are
// collected, not fatal: one damaged pack does not hide the others.
#pragma once

#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "engine/progress.h"
#include "engine/repository.h"

namespace ferry {

struct CheckOptions {
  bool read_data = false;  // Open, decode and verify every blob of every pack.
  // With read_data: only this share of the packs (picked at random), 0 < x <= 100.
  double read_data_percent = 100;
  const CancelToken* cancel = nullptr;
  ProgressFn progress;
};

// A chunk that cannot be read back, and who needs it.
struct DamagedChunk {
  std::string pack;   // "data/ab/ab12…"
  std::string chunk;  // 64 hex.
  std::string problem;
  std::vector<std::string> snapshots;  // Ids of the snapshots that use it.
};

struct CheckReport {
  uint64_t packs = 0;
  uint64_t packs_read = 0;  // With read_data.
  uint64_t indexed_chunks = 0;
  uint64_t snapshots = 0;
  uint64_t chunks_verified = 0;       // With read_data.
  std::vector<DamagedChunk> damaged;  // Also summarised in errors.
  std::vector<std::string> errors;    // Each names the object at fault.
  std::vector<std::string> warnings;  // Harmless leftovers (unindexed packs of killed backups).
  bool ok() const { return errors.empty(); }
};

// Announces itself with a read lock (so no prune deletes what it reads), reloads the
// repository's index from storage (Repository::LoadIndex) and checks it.
// Errors (as opposed to problems in the report): the repository cannot be listed, kCancelled.
Result<CheckReport> Check(Repository& repository, const CheckOptions& options);

}  // namespace ferry
