// XXH3, for fast non-cryptographic work only: block comparison, CBT hash diff, frame checksums.
// Never for chunk identity (that is ChunkIdHasher). Thread-safe: the functions keep no state.
#pragma once

#include <cstdint>
#include <string>

#include "common/bytes.h"

namespace ferry::codec {

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const Hash128&) const = default;
  // Big-endian hex of (high, low), as xxhsum prints it.
  std::string ToHex() const;
};

uint64_t Xxh3_64(ByteView data, uint64_t seed = 0);
Hash128 Xxh3_128(ByteView data, uint64_t seed = 0);

// Incremental XXH3-64 over pieces of a stream (for chunks that span read buffers).
class Xxh3Stream {
 public:
  explicit Xxh3Stream(uint64_t seed = 0);
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  void Reset();
  void Update(ByteView data);
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t, kept opaque so xxhash.h stays private to this module.
  uint64_t seed_;
};

}  // namespace ferry::codec
