// Index objects (docs/FORMAT.md §7): where each chunk lives. Sealed binary.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

#include "formats/repo/pack.h"

namespace ferry::repo {

struct IndexEntry {
  codec::ChunkId id;
  ObjectId pack;
  BlobType type = BlobType::kData;
  uint32_t offset = 0;
  uint32_t stored_size = 0;
  uint32_t raw_size = 0;
};

Result<std::string> EncodeIndex(Sealer& sealer, const ObjectId& index_id,
                                const std::vector<IndexEntry>& entries);
// Errors: kCorruption naming `name`.
Result<std::vector<IndexEntry>> DecodeIndex(Sealer& sealer, const ObjectId& index_id,
                                            std::string_view sealed, const std::string& name);

}  // namespace ferry::repo
