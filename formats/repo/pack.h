// Packs (docs/FORMAT.md §6): sealed chunk blobs followed by a sealed header that lists them, its
// size and the magic "FERRYPK1". A pack is self-describing, so indexes can be rebuilt from packs.
//
// Thread-safety: PackBuilder is used by one thread at a time. ParsePackTrailer/Header are pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

#include "formats/codec/chunk_id.h"
#include "formats/repo/ids.h"
#include "formats/repo/sealer.h"

namespace ferry::repo {

enum class BlobType : uint8_t { kData = 0, kMapPage = 1 };

struct PackEntry {
  BlobType type = BlobType::kData;
  codec::ChunkId id;
  uint32_t offset = 0;       // Of the sealed blob within the pack.
  uint32_t stored_size = 0;  // Of the sealed blob.
  uint32_t raw_size = 0;     // Of the chunk's bytes.
};

inline constexpr char kPackMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'P', 'K', '1'};
inline constexpr size_t kPackTrailerSize = 4 + 8;  // Header size + magic.

// Lays out a pack whose blobs the caller writes itself (streamed to storage, not held in
// memory): records each blob's place and produces the sealed header and trailer that close it.
class PackBuilder {
 public:
  explicit PackBuilder(ObjectId id) : id_(id) {}
  const ObjectId& id() const { return id_; }
  // Bytes of blobs so far.
  uint64_t size() const { return size_; }
  size_t count() const { return entries_.size(); }
  const std::vector<PackEntry>& entries() const { return entries_; }

  // Records the next blob (already written by the caller at offset size()).
  void Add(BlobType type, const codec::ChunkId& id, uint32_t stored_size, uint32_t raw_size);
  // The bytes that follow the blobs: sealed header, its size, magic.
  Result<std::string> Finish(Sealer& sealer) const;

 private:
  ObjectId id_;
  uint64_t size_ = 0;
  std::vector<PackEntry> entries_;
};

// Reads the trailer (the last kPackTrailerSize bytes of a pack of `pack_size` bytes) and
// returns the sealed header's size. Errors: kCorruption naming the pack.
Result<uint32_t> ParsePackTrailer(std::string_view trailer, uint64_t pack_size,
                                  const std::string& pack_name);
// Opens and parses a sealed header, checking every entry lies inside the blob area.
// Errors: kCorruption naming the pack.
Result<std::vector<PackEntry>> ParsePackHeader(Sealer& sealer, const ObjectId& pack_id,
                                               std::string_view sealed_header,
                                               uint64_t blob_area_size,
                                               const std::string& pack_name);

// "data/ab/ab12…"
std::string PackName(const ObjectId& id);

}  // namespace ferry::repo
