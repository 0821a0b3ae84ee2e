#include "formats/codec/sha256_pair.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <cpuid.h>
#include <immintrin.h>

#include "common/coding.h"

namespace ferry::codec::sha256 {
namespace {

// FIPS 180-4 §4.2.2.
alignas(64) constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

}  // namespace

void detail::CompressPortable(State& state, const uint8_t* blocks, size_t count) {
  for (; count > 0; --count, blocks += kBlockSize) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) w[t] = DecodeBig32(blocks + 4 * t);
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; ++t) {
      const uint32_t t1 =
          h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[t] + w[t];
      const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
}

namespace {

// The SHA extensions keep the state as two registers, ABEF and CDGH, and run two rounds per
// instruction on four message words at a time (the schedule from sha256msg1/msg2). With
// kStreams = 2 the rounds of two messages alternate, so each fills the other's latency.
template <size_t kStreams>
[[gnu::target("sha,sse4.1")]] void CompressShaNi(State* const* states,
                                                 const uint8_t* const* blocks_in, size_t count) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abef[kStreams], cdgh[kStreams];
  const uint8_t* blocks[kStreams];
  for (size_t s = 0; s < kStreams; ++s) {
    State& state = *states[s];
    blocks[s] = blocks_in[s];
    const __m128i dcba =
        _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<__m128i*>(&state[0])), 0xb1);  // CDAB
    const __m128i efgh =
        _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<__m128i*>(&state[4])), 0x1b);
    abef[s] = _mm_alignr_epi8(dcba, efgh, 8);
    cdgh[s] = _mm_blend_epi16(efgh, dcba, 0xf0);
  }
  for (; count > 0; --count) {
    __m128i abef_saved[kStreams], cdgh_saved[kStreams], m[kStreams][4];
    for (size_t s = 0; s < kStreams; ++s) {
      abef_saved[s] = abef[s];
      cdgh_saved[s] = cdgh[s];
    }
#pragma GCC unroll 16
    for (size_t group = 0; group < 16; ++group) {
#pragma GCC unroll 2
      for (size_t s = 0; s < kStreams; ++s) {
        __m128i words;
        if (group < 4) {
          words = _mm_shuffle_epi8(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[s] + 16 * group)), byte_swap);
        } else {
          // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four words at a time; m holds
          // the last sixteen words as four groups.
          const __m128i w16 = m[s][group & 3], w12 = m[s][(group + 1) & 3];
          const __m128i w8 = m[s][(group + 2) & 3], w4 = m[s][(group + 3) & 3];
          const __m128i sum =
              _mm_add_epi32(_mm_sha256msg1_epu32(w16, w12), _mm_alignr_epi8(w4, w8, 4));
          words = _mm_sha256msg2_epu32(sum, w4);
        }
        m[s][group & 3] = words;
        const __m128i k = _mm_add_epi32(
            words, _mm_load_si128(reinterpret_cast<const __m128i*>(&kRound[4 * group])));
        cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], k);
        abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32(k, 0x0e));
      }
    }
    for (size_t s = 0; s < kStreams; ++s) {
      abef[s] = _mm_add_epi32(abef[s], abef_saved[s]);
      cdgh[s] = _mm_add_epi32(cdgh[s], cdgh_saved[s]);
      blocks[s] += kBlockSize;
    }
  }
  for (size_t s = 0; s < kStreams; ++s) {
    State& state = *states[s];
    const __m128i feba = _mm_shuffle_epi32(abef[s], 0x1b);
    const __m128i dchg = _mm_shuffle_epi32(cdgh[s], 0xb1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), _mm_blend_epi16(feba, dchg, 0xf0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), _mm_alignr_epi8(dchg, feba, 8));
  }
}

// CPUID leaf 7 EBX bit 29 is SHA, leaf 1 ECX bit 19 SSE4.1 (Clang 14 has no
// __builtin_cpu_supports("sha")).
bool HasShaNi() {
  static const bool has = [] {
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & (1u << 19)) == 0) return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 && (b & (1u << 29)) != 0;
  }();
  return has;
}

// The blocks a message still needs: whole blocks straight from its data, then one or two tail
// blocks holding the last partial block, the 0x80 marker, zeros and the length in bits.
class BlockCursor {
 public:
  BlockCursor() = default;
  explicit BlockCursor(const Continuation& m) : data_(m.data), whole_(m.size / kBlockSize) {
    const size_t rest = m.size % kBlockSize;
    tail_blocks_ = rest + 1 + 8 <= kBlockSize ? 1 : 2;
    std::memset(tail_, 0, sizeof(tail_));
    if (rest > 0) std::memcpy(tail_, m.data + whole_ * kBlockSize, rest);
    tail_[rest] = 0x80;
    EncodeBig64(tail_ + tail_blocks_ * kBlockSize - 8, (m.prefix_bytes + m.size) * 8);
  }

  size_t remaining() const { return whole_ + tail_blocks_ - next_; }
  // How many blocks from block() on lie next to each other in memory.
  size_t run() const { return next_ < whole_ ? whole_ - next_ : remaining(); }
  const uint8_t* block() const {
    return next_ < whole_ ? data_ + next_ * kBlockSize : tail_ + (next_ - whole_) * kBlockSize;
  }
  void Advance(size_t blocks) { next_ += blocks; }

  // Absorbs every remaining block into `state`, one stream.
  void Finish(State& state) {
    while (remaining() > 0) {
      const size_t n = run();
      CompressBlocks(state, block(), n);
      Advance(n);
    }
  }

 private:
  const uint8_t* data_ = nullptr;
  size_t whole_ = 0, tail_blocks_ = 0, next_ = 0;
  uint8_t tail_[2 * kBlockSize];
};

Digest ToDigest(const State& state) {
  Digest d;
  for (size_t i = 0; i < 8; ++i) EncodeBig32(d.data() + 4 * i, state[i]);
  return d;
}

// Hashes the messages two at a time: when one of the pair ends the next message takes its
// place, and the last one left finishes alone.
void FinishInPairs(std::span<const Continuation> messages, std::span<Digest> digests) {
  struct Slot {
    BlockCursor cursor;
    State state{};
    size_t owner = 0;
    bool busy = false;
  };
  Slot slots[2];
  size_t next = 0;
  auto take_next = [&](Slot& slot) {
    slot.busy = next < messages.size();
    if (!slot.busy) return;
    slot.cursor = BlockCursor(messages[next]);
    slot.state = messages[next].start;
    slot.owner = next++;
  };
  take_next(slots[0]);
  take_next(slots[1]);
  while (slots[0].busy && slots[1].busy) {
    const size_t step = std::min(slots[0].cursor.run(), slots[1].cursor.run());
    State* const states[2] = {&slots[0].state, &slots[1].state};
    const uint8_t* const blocks[2] = {slots[0].cursor.block(), slots[1].cursor.block()};
    CompressShaNi<2>(states, blocks, step);
    for (Slot& slot : slots) {
      slot.cursor.Advance(step);
      if (slot.cursor.remaining() > 0) continue;
      digests[slot.owner] = ToDigest(slot.state);
      take_next(slot);
    }
  }
  for (Slot& slot : slots) {
    if (!slot.busy) continue;
    slot.cursor.Finish(slot.state);
    digests[slot.owner] = ToDigest(slot.state);
  }
}

}  // namespace

void CompressBlocks(State& state, const uint8_t* blocks, size_t count) {
  if (count == 0) return;
  if (HasShaNi()) {
    State* const states[1] = {&state};
    CompressShaNi<1>(states, &blocks, count);
  } else {
    detail::CompressPortable(state, blocks, count);
  }
}

bool PairsAvailable() {
  static const bool available = [] {
    const char* setting = std::getenv("FERRY_SHA256_PAIRS");
    return HasShaNi() && (setting == nullptr || std::strcmp(setting, "0") != 0);
  }();
  return available;
}

Digest Finish(const Continuation& message) {
  State state = message.start;
  BlockCursor(message).Finish(state);
  return ToDigest(state);
}

void FinishMany(std::span<const Continuation> messages, std::span<Digest> digests) {
  if (messages.size() >= 2 && PairsAvailable()) {
    FinishInPairs(messages, digests);
    return;
  }
  for (size_t i = 0; i < messages.size(); ++i) digests[i] = Finish(messages[i]);
}

}  // namespace ferry::codec::sha256
