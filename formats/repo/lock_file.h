// Lock objects (docs/FORMAT.md §13): which jobs are using a repository, and which prune records
// each has honoured. Sealed JSON under "locks/<session>-<generation>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

#include "formats/repo/ids.h"
#include "formats/repo/sealer.h"

namespace ferry::repo {

enum class LockKind { kBackup, kRead, kExclusive };
std::string_view LockKindName(LockKind kind);

struct LockRecord {
  ObjectId session;
  uint32_t generation = 0;
  LockKind kind = LockKind::kRead;
  std::string hostname;
  int64_t pid = 0;
  std::string time;            // RFC 3339 UTC, as snapshots (when this generation was written).
  std::vector<ObjectId> seen;  // Prune records this job honours.
};

// "locks/<32 hex>-<8 digits>".
std::string LockName(const ObjectId& session, uint32_t generation);
// The session and generation of a lock object's name; nullopt for a name that is not one.
struct LockNameParts {
  ObjectId session;
  uint32_t generation = 0;
};
std::optional<LockNameParts> ParseLockName(std::string_view name);

Result<std::string> EncodeLock(Sealer& sealer, const LockRecord& lock);
// Errors: kCorruption naming `name` (also when the content does not match the name).
Result<LockRecord> DecodeLock(Sealer& sealer, std::string_view sealed, std::string_view name);

}  // namespace ferry::repo
