// SplitMix64: a tiny, fast, deterministic (non-cryptographic) generator for reproducible test
// and benchmark data and for sampling. Not for anything secret: see formats/codec/secure_random.h.
#pragma once

#include <cstdint>

namespace ferry {

// Advances `*state` and returns the next 64-bit value (Steele, Lea and Flood's SplitMix64).
inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace ferry
