// ChunkFilter: a compact set of chunk ids that may answer "yes" for an id never added (about 1%
// of the time at the default 10 bits per id), never "no" for one that was. Prune marks the chunks
// snapshots use in one: a false "yes" only keeps a little garbage, and the mark phase needs
// about 1.2 bytes per chunk instead of a hash table's 50 or more, so it stays small for
// hundreds of millions of chunks.
//
// Chunk ids are keyed HMACs, uniformly random, so their own bytes serve as the hash functions.
//
// Thread-safety: none; fill it from one thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/codec/chunk_id.h"

namespace ferry {

class ChunkFilter {
 public:
  // Sized for `expected` ids with `bits_per_id` bits each, and at least `min_bytes` in all (so
  // that small repositories, where memory does not matter, see next to no false answers).
  explicit ChunkFilter(uint64_t expected, unsigned bits_per_id = 10, uint64_t min_bytes = 1 << 20)
      : bits_(std::max<uint64_t>(min_bytes * 8, expected * bits_per_id)),
        words_((bits_ + 63) / 64, 0) {}

  void Add(const codec::ChunkId& id) {
    uint64_t h1, h2;
    Split(id, &h1, &h2);
    for (unsigned i = 0; i < kProbes; ++i) {
      const uint64_t bit = (h1 + i * h2) % bits_;
      words_[bit >> 6] |= uint64_t{1} << (bit & 63);
    }
  }

  bool MayContain(const codec::ChunkId& id) const {
    uint64_t h1, h2;
    Split(id, &h1, &h2);
    for (unsigned i = 0; i < kProbes; ++i) {
      const uint64_t bit = (h1 + i * h2) % bits_;
      if ((words_[bit >> 6] & (uint64_t{1} << (bit & 63))) == 0) return false;
    }
    return true;
  }

  uint64_t memory_bytes() const { return words_.size() * sizeof(uint64_t); }

 private:
  static constexpr unsigned kProbes = 7;  // Optimal for 10 bits per id.

  static void Split(const codec::ChunkId& id, uint64_t* h1, uint64_t* h2) {
    std::memcpy(h1, id.bytes.data() + 8, sizeof(*h1));
    std::memcpy(h2, id.bytes.data() + 16, sizeof(*h2));
    *h2 |= 1;  // Odd, so the probes differ.
  }

  uint64_t bits_;
  std::vector<uint64_t> words_;
};

}  // namespace ferry
