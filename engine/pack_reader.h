// Reading a pack's own description of itself (docs/FORMAT.md §6): its trailer and sealed header.
// Check compares it with the index, repair rebuilds the index from it, prune repacks with it.
#pragma once

#include <vector>

#include "common/result.h"

#include "formats/repo/pack.h"
#include "transports/transport.h"

namespace ferry {

struct PackHeader {
  uint64_t size = 0;       // Of the whole pack object.
  uint64_t blob_area = 0;  // Bytes of blobs before the header.
  std::vector<repo::PackEntry> entries;
};

// Errors: kNotFound; kCorruption naming the pack (truncated, damaged header or trailer).
Result<PackHeader> ReadPackHeader(Transport& transport, repo::Sealer& sealer,
                                  const repo::ObjectId& pack);

}  // namespace ferry
