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

// Reads the header of `pack`, whose size is `size` (as a listing gave it: callers list the packs
// first, so no request asks for the size). One read brings the trailer and, for all but packs of
// thousands of blobs, the header with it. Errors: kNotFound; kCorruption naming the pack
// (truncated, shorter than `size`, damaged header or trailer).
Result<PackHeader> ReadPackHeader(Transport& transport, repo::Sealer& sealer,
                                  const repo::ObjectId& pack, uint64_t size);

// How many pack headers (or whole packs) to read at once: the requests a transport wants in
// flight, and at least a worker per core for the decoding.
unsigned PackReadParallelism(const Transport& transport);

// How much of a pack's end ReadPackHeader reads first: the trailer and a header of up to ~1500
// entries (a 16 MiB pack of 256 KiB chunks has about 64).
inline constexpr size_t kPackTailRead = 64 << 10;

}  // namespace ferry
