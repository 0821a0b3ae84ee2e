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
  const CancelToken* cancel = nullptr;
  ProgressFn progress;
};

struct CheckReport {
  uint64_t packs = 0;
  uint64_t indexed_chunks = 0;
  uint64_t snapshots = 0;
  uint64_t chunks_verified = 0;       // With read_data.
  std::vector<std::string> errors;    // Each names the object at fault.
  std::vector<std::string> warnings;  // Harmless leftovers (unindexed packs of killed backups).
  bool ok() const { return errors.empty(); }
};

// Reloads the repository's index from storage (Repository::LoadIndex) and checks it.
// Errors (as opposed to problems in the report): the repository cannot be listed, kCancelled.
Result<CheckReport> Check(Repository& repository, const CheckOptions& options);

}  // namespace ferry
