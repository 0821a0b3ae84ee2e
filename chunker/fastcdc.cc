#include "chunker/fastcdc.h"

#include <algorithm>
#include <cassert>

#include "chunker/gear_table.h"

namespace ferry::chunker {

namespace {

// Indexed by the number of one bits. 0–4 are padding; 5 and 25 serve only normalisation level 3.
constexpr std::array<uint64_t, 26> kMasks = {
    0,
    0,
    0,
    0,
    0,
    0x0000000001804110,
    0x0000000001803110,
    0x0000000018035100,
    0x0000001800035300,
    0x0000019000353000,
    0x0000590003530000,
    0x0000d90003530000,
    0x0000d90103530000,
    0x0000d90303530000,
    0x0000d90313530000,
    0x0000d90f03530000,
    0x0000d90303537000,
    0x0000d90703537000,
    0x0000d90707537000,
    0x0000d91707537000,
    0x0000d91747537000,
    0x0000d91767537000,
    0x0000d93767537000,
    0x0000d93777537000,
    0x0000d93777577000,
    0x0000db3777577000,
};

constexpr size_t kNoCut = ~size_t{0};

// Hashes whole byte pairs of q[0, len & ~1) with the 2020 recurrence and returns the index in q
// of the byte whose hash matched (the first byte of the next chunk), or kNoCut.
//
// This is the hot loop: per byte one table load and one add (or scaled add) on the hash chain,
// and a test that almost never fires. Unrolling to four bytes with the tests marked unlikely
// keeps the loop overhead off the chain; measured against simpler forms in bench/RESULTS.md.
[[gnu::noinline]] size_t ScanPairs(const uint8_t* q, size_t len, uint64_t* hash, uint64_t mask,
                                   uint64_t mask_ls, const uint64_t* gear,
                                   const uint64_t* gear_ls) {
  uint64_t h = *hash;
  const uint8_t* p = q;
  const uint8_t* const end = q + (len & ~size_t{1});
  const uint8_t* const end4 = q + (len & ~size_t{3});
  auto hit = [&](const uint8_t* at) {
    *hash = h;
    return static_cast<size_t>(at - q);
  };
  while (p < end4) {
    h = (h << 2) + gear_ls[p[0]];
    if (__builtin_expect((h & mask_ls) == 0, 0)) return hit(p);
    h += gear[p[1]];
    if (__builtin_expect((h & mask) == 0, 0)) return hit(p + 1);
    h = (h << 2) + gear_ls[p[2]];
    if (__builtin_expect((h & mask_ls) == 0, 0)) return hit(p + 2);
    h += gear[p[3]];
    if (__builtin_expect((h & mask) == 0, 0)) return hit(p + 3);
    p += 4;
  }
  if (p < end) {
    h = (h << 2) + gear_ls[p[0]];
    if ((h & mask_ls) == 0) return hit(p);
    h += gear[p[1]];
    if ((h & mask) == 0) return hit(p + 1);
  }
  *hash = h;
  return kNoCut;
}

// The 2016 recurrence, one byte per step, over q[0, len). Unrolled like ScanPairs.
[[gnu::noinline]] size_t ScanBytes(const uint8_t* q, size_t len, uint64_t* hash, uint64_t mask,
                                   const uint64_t* gear) {
  uint64_t h = *hash;
  const uint8_t* p = q;
  const uint8_t* const end = q + len;
  const uint8_t* const end4 = q + (len & ~size_t{3});
  auto hit = [&](const uint8_t* at) {
    *hash = h;
    return static_cast<size_t>(at - q);
  };
  while (p < end4) {
    h = (h << 1) + gear[p[0]];
    if (__builtin_expect((h & mask) == 0, 0)) return hit(p);
    h = (h << 1) + gear[p[1]];
    if (__builtin_expect((h & mask) == 0, 0)) return hit(p + 1);
    h = (h << 1) + gear[p[2]];
    if (__builtin_expect((h & mask) == 0, 0)) return hit(p + 2);
    h = (h << 1) + gear[p[3]];
    if (__builtin_expect((h & mask) == 0, 0)) return hit(p + 3);
    p += 4;
  }
  for (; p < end; ++p) {
    h = (h << 1) + gear[p[0]];
    if ((h & mask) == 0) return hit(p);
  }
  *hash = h;
  return kNoCut;
}

int RoundedLog2(uint32_t v) {
  // round(log2(v)): v rounds up past 2^(b+1/2) = 2^b * sqrt(2). Exact in integers: v^2 >= 2^(2b+1).
  int b = 31 - __builtin_clz(v);
  const uint64_t sq = uint64_t{v} * v;
  if (sq >= (uint64_t{1} << (2 * b + 1))) ++b;
  return b;
}

}  // namespace

uint64_t FastCdcMask(int bits) {
  assert(bits >= 5 && bits <= 25);
  return kMasks[static_cast<size_t>(bits)];
}

FastCdc::FastCdc(const Params& params)
    : params_(params), v2020_(params.algorithm == Algorithm::kFastCdc2020) {
  assert(ValidateParams(params).ok());
  const int bits = RoundedLog2(params.avg_size);
  mask_s_ = FastCdcMask(bits + params.level);
  mask_l_ = FastCdcMask(bits - params.level);
  mask_s_ls_ = mask_s_ << 1;
  mask_l_ls_ = mask_l_ << 1;
  for (size_t i = 0; i < 256; ++i) {
    gear_[i] = kGear[i] ^ params.seed;
    gear_ls_[i] = (kGear[i] << 1) ^ (params.seed << 1);
  }
  max_ = params.max_size;
  if (v2020_) {
    // Pairs start at even positions: an odd min starts one byte early, an odd max leaves its
    // last byte unhashed (as fastcdc-rs does).
    scan_begin_ = params.min_size & ~1u;
    centre_ = params.avg_size & ~1u;
    scan_end_ = params.max_size & ~1u;
  } else {
    scan_begin_ = params.min_size;
    centre_ = params.avg_size;
    scan_end_ = params.max_size;
  }
}

void FastCdc::Reset(uint64_t offset) {
  base_ = offset;
  pos_ = 0;
  hash_ = 0;
  pending_ = false;
}

void FastCdc::Finish(std::vector<uint64_t>* cuts) {
  if (pos_ > 0) cuts->push_back(base_);
  Reset(0);
}

void FastCdc::Update(ByteView data, std::vector<uint64_t>* cuts) {
  if (v2020_) {
    Update2020(AsU8(data), data.size(), cuts);
  } else {
    Update2016(AsU8(data), data.size(), cuts);
  }
  base_ += data.size();
}

void FastCdc::Update2020(const uint8_t* p, size_t n, std::vector<uint64_t>* cuts) {
  size_t i = 0;
  size_t pos = pos_;
  uint64_t h = hash_;
  auto cut_before = [&](size_t index_in_p) {
    cuts->push_back(base_ + index_in_p);
    pos = 0;
    h = 0;
  };
  if (pending_ && n > 0) {
    // Finish the pair opened by the last byte of the previous buffer.
    pending_ = false;
    const size_t a = pos - 1;
    const bool before_centre = a < centre_;
    h = (h << 2) + gear_ls_[pending_byte_];
    if ((h & (before_centre ? mask_s_ls_ : mask_l_ls_)) == 0) {
      // The chunk ends before the pending byte, which opens the next chunk; p[0] is not consumed.
      cuts->push_back(base_ - 1);
      pos = 1;
      h = 0;
    } else {
      h += gear_[p[0]];
      if ((h & (before_centre ? mask_s_ : mask_l_)) == 0) {
        cut_before(0);
      } else {
        i = 1;
        pos += 1;
      }
    }
  }
  while (i < n) {
    if (pos < scan_begin_) {
      // Bytes before min_size are never hashed: skip them without reading.
      const size_t step = std::min(scan_begin_ - pos, n - i);
      pos += step;
      i += step;
      continue;
    }
    if (pos >= scan_end_) {
      // No cut found before max_size: the chunk ends there (at most one unhashed byte to go).
      const size_t step = std::min(max_ - pos, n - i);
      pos += step;
      i += step;
      if (pos == max_) cut_before(i);
      continue;
    }
    const size_t avail = n - i;
    if (avail == 1) {
      pending_ = true;
      pending_byte_ = p[i];
      pos += 1;
      i += 1;
      break;
    }
    const bool before_centre = pos < centre_;
    const size_t region_end = before_centre ? centre_ : scan_end_;
    const size_t len = std::min(region_end - pos, avail) & ~size_t{1};
    assert(len >= 2);
    const size_t hit =
        ScanPairs(p + i, len, &h, before_centre ? mask_s_ : mask_l_,
                  before_centre ? mask_s_ls_ : mask_l_ls_, gear_.data(), gear_ls_.data());
    if (hit != kNoCut) {
      cut_before(i + hit);
      i += hit;
    } else {
      pos += len;
      i += len;
    }
  }
  // A chunk that reached max_size exactly at the end of this buffer ends here.
  if (!pending_ && pos == max_) cut_before(n);
  pos_ = pos;
  hash_ = h;
}

void FastCdc::Update2016(const uint8_t* p, size_t n, std::vector<uint64_t>* cuts) {
  size_t i = 0;
  size_t pos = pos_;
  uint64_t h = hash_;
  while (i < n) {
    if (pos < scan_begin_) {
      const size_t step = std::min(scan_begin_ - pos, n - i);
      pos += step;
      i += step;
      continue;
    }
    if (pos >= scan_end_) {
      cuts->push_back(base_ + i);
      pos = 0;
      h = 0;
      continue;
    }
    const bool before_centre = pos < centre_;
    const size_t region_end = before_centre ? centre_ : scan_end_;
    const size_t len = std::min(region_end - pos, n - i);
    const size_t hit = ScanBytes(p + i, len, &h, before_centre ? mask_s_ : mask_l_, gear_.data());
    if (hit != kNoCut) {
      cuts->push_back(base_ + i + hit);
      i += hit;
      pos = 0;
      h = 0;
    } else {
      pos += len;
      i += len;
    }
  }
  // A chunk that reached max_size exactly at the end of this buffer ends here.
  if (pos >= scan_end_) {
    cuts->push_back(base_ + n);
    pos = 0;
    h = 0;
  }
  pos_ = pos;
  hash_ = h;
}

}  // namespace ferry::chunker
