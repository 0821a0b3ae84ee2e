// FastCDC content-defined chunking, 2016 and 2020 variants, as implemented by fastcdc-rs (and
// described in docs/chunking.md): normalized chunking with two masks around avg_size, and for
// 2020 the "rolling two bytes" loop with a left-shifted gear table, which halves the shifts of
// the hash chain and yields the same cut points as 2016 from an even start.
//
// Thread-safety: as Chunker.
#pragma once

#include <array>
#include <cstdint>

#include "chunker/chunker.h"

namespace ferry::chunker {

// The normalisation masks of fastcdc-rs, indexed by the number of one bits (5 to 25).
uint64_t FastCdcMask(int bits);

class FastCdc final : public Chunker {
 public:
  // REQUIRES: ValidateParams(params).ok() and params.algorithm is a FastCDC variant.
  explicit FastCdc(const Params& params);

  void Update(ByteView data, std::vector<uint64_t>* cuts) override;
  void Finish(std::vector<uint64_t>* cuts) override;
  void Reset(uint64_t offset = 0) override;
  const Params& params() const override { return params_; }

  uint64_t mask_small() const { return mask_s_; }
  uint64_t mask_large() const { return mask_l_; }

 private:
  void Update2020(const uint8_t* p, size_t n, std::vector<uint64_t>* cuts);
  void Update2016(const uint8_t* p, size_t n, std::vector<uint64_t>* cuts);

  Params params_;
  bool v2020_;
  uint64_t mask_s_, mask_l_, mask_s_ls_, mask_l_ls_;
  // Chunk-relative byte positions: hashing starts at scan_begin_, the stricter mask applies
  // below centre_, and the last hashed byte is below scan_end_; max_size ends a chunk anyway.
  size_t scan_begin_, centre_, scan_end_, max_;
  std::array<uint64_t, 256> gear_;
  std::array<uint64_t, 256> gear_ls_;

  // Stream state.
  uint64_t base_ = 0;  // Stream offset of the next byte to be fed.
  size_t pos_ = 0;     // Bytes of the current chunk consumed so far.
  uint64_t hash_ = 0;
  bool pending_ = false;  // v2020: the byte at chunk position pos_-1 opens a pair not yet hashed.
  uint8_t pending_byte_ = 0;
};

}  // namespace ferry::chunker
