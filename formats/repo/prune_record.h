// Prune records (docs/FORMAT.md §14.1): the packs a prune wants to delete, and the snapshots it
// marked when it chose them. Sealed JSON under "prune/<record id>".
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

#include "formats/repo/ids.h"
#include "formats/repo/sealer.h"

namespace ferry::repo {

struct PruneRecord {
  ObjectId id;
  std::string time;  // RFC 3339 UTC.
  std::string hostname;
  std::vector<ObjectId> snapshots;  // Marked by phase 1.
  std::vector<ObjectId> packs;      // Candidates for deletion.
};

// "prune/<32 hex>".
std::string PruneRecordName(const ObjectId& id);

Result<std::string> EncodePruneRecord(Sealer& sealer, const PruneRecord& record);
// Errors: kCorruption naming `name`.
Result<PruneRecord> DecodePruneRecord(Sealer& sealer, const ObjectId& id, std::string_view sealed,
                                      const std::string& name);

}  // namespace ferry::repo
