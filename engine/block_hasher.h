// BlockHasher: the block hashes of a volume (formats/repo/block_hashes.h) computed from its bytes
// as a backup reads them, in order, with the ranges it skips (holes) hashed as zeros.
//
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

#include "engine/repository.h"
#include "formats/codec/xxh3.h"
#include "formats/repo/snapshot.h"

namespace ferry {

class BlockHasher {
 public:
  explicit BlockHasher(uint32_t block_size);

  // Feeds the volume's bytes at `offset`. Offsets only grow; bytes skipped since the last call
  // are zeros.
  void Feed(uint64_t offset, ByteView data);
  // Ends the volume at `size` (skipped bytes up to it are zeros) and returns one hash per block;
  // the last block may be short.
  std::vector<uint64_t> Finish(uint64_t size);

  // The hash of `data`, a block (or the volume's short last block).
  static uint64_t HashBlock(ByteView data) { return codec::Xxh3_64(data); }

 private:
  void Zeros(uint64_t to);
  void Take(ByteView data);

  const uint32_t block_size_;
  const uint64_t zero_block_hash_;
  uint64_t pos_ = 0;
  codec::Xxh3Stream partial_;  // The block at pos_, when pos_ is not on a block boundary.
  std::vector<uint64_t> hashes_;
};

// The hashes of the blocks an incremental backup happens to read whole: it reads runs around
// the changes, in order, and the changed blocks' new hashes come from those bytes instead of a
// second read.
class SeenBlockHashes {
 public:
  SeenBlockHashes(uint32_t block_size, uint64_t volume_size)
      : block_size_(block_size), volume_size_(volume_size) {}

  // Feeds bytes read at `offset`. A block is hashed when it is fed whole, across calls whose
  // bytes are contiguous; a gap abandons the block it falls in. The volume's last block may be
  // short.
  void Feed(uint64_t offset, ByteView data);
  // The hash of block `index`, if it was fed whole.
  std::optional<uint64_t> Find(uint64_t index) const;

 private:
  const uint32_t block_size_;
  const uint64_t volume_size_;
  std::unordered_map<uint64_t, uint64_t> hashes_;
  codec::Xxh3Stream open_block_;
  bool open_ = false;  // open_block_ holds the start of the block at next_.
  uint64_t next_ = 0;  // Where the last call's bytes ended.
};

// The block hashes of a snapshot volume; empty if it has none. Errors: kCorruption.
Result<std::vector<uint64_t>> LoadBlockHashes(Repository& repository,
                                              const repo::SnapshotVolume& volume);

}  // namespace ferry
