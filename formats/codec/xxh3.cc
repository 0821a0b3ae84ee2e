#include "formats/codec/xxh3.h"

#include <cstdlib>

#include <fmt/format.h>
#include <xxhash.h>

namespace ferry::codec {

std::string Hash128::ToHex() const { return fmt::format("{:016x}{:016x}", high, low); }

uint64_t Xxh3_64(ByteView data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

Hash128 Xxh3_128(ByteView data, uint64_t seed) {
  const XXH128_hash_t h = XXH3_128bits_withSeed(data.data(), data.size(), seed);
  return {h.low64, h.high64};
}

Xxh3Stream::Xxh3Stream(uint64_t seed) : state_(XXH3_createState()), seed_(seed) {
  if (state_ == nullptr) std::abort();  // Out of memory for a few hundred bytes.
  Reset();
}

Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh3Stream::Reset() { XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state_), seed_); }

void Xxh3Stream::Update(ByteView data) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data.data(), data.size());
}

uint64_t Xxh3Stream::Digest() const {
  return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_));
}

}  // namespace ferry::codec
