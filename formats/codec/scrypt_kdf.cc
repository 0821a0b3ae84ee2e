#include "formats/codec/scrypt_kdf.h"

#include <cstring>
#include <utility>

#include <sys/mman.h>

#if defined(__SSE2__) && !defined(FERRY_SCRYPT_PORTABLE)
#include <emmintrin.h>
#endif

#include <fmt/format.h>
#include <openssl/evp.h>

#include "common/coding.h"

// scrypt is PBKDF2-HMAC-SHA256, then ROMix over each of p blocks, then PBKDF2 again. ROMix is
// 2·N·2r applications of the Salsa20/8 core, one after the other (each needs the one before),
// and is all of the cost: opening a repository spent ~0.1 s in OpenSSL's scalar ROMix. Here
// the core runs on SSE2 registers holding the 4×4 word matrix by diagonals, so that a column
// round and a row round are each four vector steps with only lane rotations between them, and
// the blocks stay in that word order throughout (Salsa's feed-forward and the XORs of BlockMix
// and ROMix work word by word, so any fixed order serves); about twice as fast. OpenSSL's
// EVP_PBE_scrypt stays the reference the tests compare against.

namespace ferry::codec {
namespace {

constexpr size_t kWords = 16;  // A Salsa20 block: 64 bytes.

#if defined(__SSE2__) && !defined(FERRY_SCRYPT_PORTABLE)

// Word i of a block in memory holds matrix word kOrder[i]: the four diagonals, each starting in
// column 0: (x0 x5 x10 x15) (x4 x9 x14 x3) (x8 x13 x2 x7) (x12 x1 x6 x11). x0 stays first, which
// is what Integerify reads.
constexpr int kOrder[kWords] = {0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11};

inline __m128i Rotl(__m128i v, int n) {
  return _mm_or_si128(_mm_slli_epi32(v, n), _mm_srli_epi32(v, 32 - n));
}

// The quarter-round on four columns (or four rows) at once, lane by lane: (y0 y1 y2 y3) of
// RFC 7914 §3.
inline void QuarterRounds(__m128i& y0, __m128i& y1, __m128i& y2, __m128i& y3) {
  y1 = _mm_xor_si128(y1, Rotl(_mm_add_epi32(y0, y3), 7));
  y2 = _mm_xor_si128(y2, Rotl(_mm_add_epi32(y1, y0), 9));
  y3 = _mm_xor_si128(y3, Rotl(_mm_add_epi32(y2, y1), 13));
  y0 = _mm_xor_si128(y0, Rotl(_mm_add_epi32(y3, y2), 18));
}

// A block in four registers, one diagonal each.
struct Block {
  __m128i a, b, c, d;
};

inline Block Load(const uint32_t* p) {
  const auto* v = reinterpret_cast<const __m128i*>(p);
  return {_mm_load_si128(v), _mm_load_si128(v + 1), _mm_load_si128(v + 2), _mm_load_si128(v + 3)};
}

inline void XorFrom(Block& x, const uint32_t* p) {
  const Block y = Load(p);
  x = {_mm_xor_si128(x.a, y.a), _mm_xor_si128(x.b, y.b), _mm_xor_si128(x.c, y.c),
       _mm_xor_si128(x.d, y.d)};
}

inline void Store(uint32_t* p, const Block& x) {
  auto* v = reinterpret_cast<__m128i*>(p);
  _mm_store_si128(v, x.a);
  _mm_store_si128(v + 1, x.b);
  _mm_store_si128(v + 2, x.c);
  _mm_store_si128(v + 3, x.d);
}

// x = Salsa20/8(x).
inline void Salsa20_8(Block& x) {
  __m128i a = x.a, b = x.b, c = x.c, d = x.d;
  for (int i = 0; i < 4; ++i) {
    // Columns: lane by lane, (a b c d) are the quarter-rounds' inputs.
    QuarterRounds(a, b, c, d);
    // Rows: rotating the lanes of b, c and d lines the rows up as (a d c b); then back.
    d = _mm_shuffle_epi32(d, _MM_SHUFFLE(0, 3, 2, 1));
    c = _mm_shuffle_epi32(c, _MM_SHUFFLE(1, 0, 3, 2));
    b = _mm_shuffle_epi32(b, _MM_SHUFFLE(2, 1, 0, 3));
    QuarterRounds(a, d, c, b);
    d = _mm_shuffle_epi32(d, _MM_SHUFFLE(2, 1, 0, 3));
    c = _mm_shuffle_epi32(c, _MM_SHUFFLE(1, 0, 3, 2));
    b = _mm_shuffle_epi32(b, _MM_SHUFFLE(0, 3, 2, 1));
  }
  x = {_mm_add_epi32(x.a, a), _mm_add_epi32(x.b, b), _mm_add_epi32(x.c, c), _mm_add_epi32(x.d, d)};
}

#else

constexpr int kOrder[kWords] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

inline uint32_t Rotl(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

struct Block {
  uint32_t w[kWords];
};

inline Block Load(const uint32_t* p) {
  Block x;
  std::memcpy(x.w, p, sizeof(x.w));
  return x;
}

inline void XorFrom(Block& x, const uint32_t* p) {
  for (size_t i = 0; i < kWords; ++i) x.w[i] ^= p[i];
}

inline void Store(uint32_t* p, const Block& x) { std::memcpy(p, x.w, sizeof(x.w)); }

// x = Salsa20/8(x), in matrix order (RFC 7914 §3).
void Salsa20_8(Block& block) {
  uint32_t x[kWords];
  std::memcpy(x, block.w, sizeof(x));
  auto quarter = [&x](int y0, int y1, int y2, int y3) {
    x[y1] ^= Rotl(x[y0] + x[y3], 7);
    x[y2] ^= Rotl(x[y1] + x[y0], 9);
    x[y3] ^= Rotl(x[y2] + x[y1], 13);
    x[y0] ^= Rotl(x[y3] + x[y2], 18);
  };
  for (int i = 0; i < 4; ++i) {
    quarter(0, 4, 8, 12);
    quarter(5, 9, 13, 1);
    quarter(10, 14, 2, 6);
    quarter(15, 3, 7, 11);
    quarter(0, 1, 2, 3);
    quarter(5, 6, 7, 4);
    quarter(10, 11, 8, 9);
    quarter(15, 12, 13, 14);
  }
  for (size_t i = 0; i < kWords; ++i) block.w[i] += x[i];
}

#endif

// out = BlockMix(in XOR other) for 2r blocks (RFC 7914 §4); `other` may be null (nothing to XOR).
// `out` overlaps neither input.
void BlockMix(const uint32_t* in, const uint32_t* other, uint32_t* out, uint32_t r) {
  const size_t last = (2 * r - 1) * kWords;
  Block x = Load(in + last);
  if (other != nullptr) XorFrom(x, other + last);
  for (uint32_t i = 0; i < 2 * r; ++i) {
    XorFrom(x, in + i * kWords);
    if (other != nullptr) XorFrom(x, other + i * kWords);
    Salsa20_8(x);
    // Even blocks to the first half, odd ones to the second.
    Store(out + (i / 2 + (i % 2) * r) * kWords, x);
  }
}

// Memory for V: mapped (not from the heap) so that it goes back to the system, and so unread by
// anyone, the moment it is unmapped; in huge pages where the kernel allows, which saves most of
// the page faults of touching 32 MiB.
class Scratch {
 public:
  static Result<Scratch> Map(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return Err(Status::NoSpace(
          fmt::format("cannot map {} MiB of memory for the scrypt key derivation", bytes >> 20)));
    }
    madvise(p, bytes, MADV_HUGEPAGE);  // Advice only: without huge pages it works the same.
    return Scratch(static_cast<uint32_t*>(p), bytes);
  }
  Scratch(Scratch&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(o.bytes_) {}
  Scratch& operator=(Scratch&&) = delete;
  ~Scratch() {
    if (p_ != nullptr) munmap(p_, bytes_);
  }
  uint32_t* words() const { return p_; }

 private:
  Scratch(uint32_t* p, size_t bytes) : p_(p), bytes_(bytes) {}
  uint32_t* p_;
  size_t bytes_;
};

// b = ROMix(b) (RFC 7914 §5), b being 128·r bytes. `scratch` has room for n + 2 such blocks
// and is 16-byte aligned: V, then the two blocks that take turns as BlockMix's input and output.
void RoMix(char* b, uint32_t r, uint64_t n, uint32_t* scratch) {
  const size_t words = 2 * r * kWords;
  uint32_t* v = scratch;
  uint32_t* x = scratch + n * words;
  uint32_t* y = x + words;
  for (size_t blk = 0; blk < 2 * r; ++blk) {
    for (size_t i = 0; i < kWords; ++i) {
      x[blk * kWords + i] = DecodeFixed32(b + (blk * kWords + static_cast<size_t>(kOrder[i])) * 4);
    }
  }
  for (uint64_t i = 0; i < n; ++i) {
    std::memcpy(v + i * words, x, words * sizeof(uint32_t));
    BlockMix(x, nullptr, y, r);
    std::swap(x, y);
  }
  for (uint64_t i = 0; i < n; ++i) {
    // Integerify: the first word of the last block (n ≤ 2^32 as the parameters are bounded).
    const uint64_t j = x[(2 * r - 1) * kWords] & (n - 1);
    BlockMix(x, v + j * words, y, r);
    std::swap(x, y);
  }
  for (size_t blk = 0; blk < 2 * r; ++blk) {
    for (size_t i = 0; i < kWords; ++i) {
      EncodeFixed32(b + (blk * kWords + static_cast<size_t>(kOrder[i])) * 4, x[blk * kWords + i]);
    }
  }
}

bool Pbkdf2Sha256(std::string_view passphrase, const void* salt, size_t salt_size, void* out,
                  size_t out_size) {
  return PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()),
                           static_cast<const unsigned char*>(salt), static_cast<int>(salt_size), 1,
                           EVP_sha256(), static_cast<int>(out_size),
                           static_cast<unsigned char*>(out)) == 1;
}

}  // namespace

Result<std::string> DeriveKeyScrypt(std::string_view passphrase, ByteView salt,
                                    const ScryptParams& params, size_t key_size) {
  if (params.n < 2 || (params.n & (params.n - 1)) != 0) {
    return Err(Status::InvalidArgument("scrypt N must be a power of two greater than 1"));
  }
  constexpr uint64_t kMaxMem = uint64_t{1} << 30;
  // scrypt's working set is 128 * r * N bytes (plus 128 * r * p); refuse absurd parameters
  // read from a damaged or hostile key file before trying to allocate them.
  if (params.r == 0 || params.p == 0 || params.r > 64 || params.p > 64 ||
      params.n > kMaxMem / (128 * uint64_t{params.r})) {
    return Err(Status::InvalidArgument("scrypt parameters exceed 1 GiB of memory"));
  }
  const size_t block_bytes = 128 * size_t{params.r};
  std::string b(block_bytes * params.p, '\0');
  std::string key(key_size, '\0');
  if (!Pbkdf2Sha256(passphrase, salt.data(), salt.size(), b.data(), b.size())) {
    return Err(Status::IoError("scrypt key derivation failed (PBKDF2)"));
  }
  {
    FERRY_ASSIGN_OR_RETURN(Scratch v, Scratch::Map(block_bytes * (params.n + 2)));
    for (uint32_t i = 0; i < params.p; ++i) {
      RoMix(b.data() + i * block_bytes, params.r, params.n, v.words());
    }
  }
  const bool ok = Pbkdf2Sha256(passphrase, b.data(), b.size(), key.data(), key.size());
  OPENSSL_cleanse(b.data(), b.size());
  if (!ok) return Err(Status::IoError("scrypt key derivation failed (PBKDF2)"));
  return key;
}

}  // namespace ferry::codec
