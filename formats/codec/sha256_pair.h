// SHA-256 of many messages, two at a time, for computing and verifying chunk ids in batches.
//
// With the SHA extensions (SHA-NI), one SHA-256 stream is bound by the latency of its round
// instructions, not by how many the core can issue: each pair of rounds waits for the one
// before. Two independent messages interleaved in one instruction stream fill those waits and
// hash at nearly twice the rate of one (BM_ChunkIdBatch in bench/codec_bench.cc). Restore and
// check hold a window's worth of decoded chunks at once: plenty of independent messages.
//
// Chunks differ in length: when one of the pair finishes, the next message takes its place; the
// last one finishes alone. Every entry point gives the same digests on every CPU; without
// SHA-NI everything runs one message at a time in portable code. FERRY_SHA256_PAIRS=0 in the
// environment turns the pairing off (for diagnosis and side-by-side measurement).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ferry::codec::sha256 {

inline constexpr size_t kBlockSize = 64;
inline constexpr size_t kDigestSize = 32;

// The chaining value between blocks.
using State = std::array<uint32_t, 8>;
using Digest = std::array<uint8_t, kDigestSize>;

inline constexpr State kInitialState = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Absorbs `count` whole blocks into `state` (SHA-NI when present, portable code otherwise).
void CompressBlocks(State& state, const uint8_t* blocks, size_t count);

// A message whose first `prefix_bytes` (a multiple of kBlockSize) are already absorbed into
// `start`; HMAC uses this to begin every message from its precomputed key-pad state.
struct Continuation {
  State start = kInitialState;
  uint64_t prefix_bytes = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// The SHA-256 digest of one message (its prefix and data).
Digest Finish(const Continuation& message);

// digests[i] = Finish(messages[i]) for every i, two messages at a time where the CPU allows.
// `digests` must be as long as `messages`. Never allocates; safe to call from many threads.
void FinishMany(std::span<const Continuation> messages, std::span<Digest> digests);

// Whether FinishMany pairs messages on this CPU (it has SHA-NI and FERRY_SHA256_PAIRS is not
// 0).
bool PairsAvailable();

namespace detail {
// The code CompressBlocks falls back to without SHA-NI, exposed so tests can check it on any CPU.
void CompressPortable(State& state, const uint8_t* blocks, size_t count);
}  // namespace detail

}  // namespace ferry::codec::sha256
