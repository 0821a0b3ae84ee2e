// BlockHasher: the block hashes of a volume (formats/repo/block_hashes.h) computed from its bytes
// as a backup reads them, in order, with the ranges it skips (holes) hashed as zeros.
//
// Thread-safety: one thread.
#pragma once

#include <cstdint>
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

// The block hashes of a snapshot volume; empty if it has none. Errors: kCorruption.
Result<std::vector<uint64_t>> LoadBlockHashes(Repository& repository,
                                              const repo::SnapshotVolume& volume);

}  // namespace ferry
