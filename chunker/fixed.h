// Fixed-size chunking: a cut every avg_size bytes of the stream. With fixed chunks the dirty
// chunks of an incremental backup are exactly those that touch a changed extent.
//
// Thread-safety: as Chunker.
#pragma once

#include "chunker/chunker.h"

namespace ferry::chunker {

class FixedChunker final : public Chunker {
 public:
  // REQUIRES: ValidateParams(params).ok().
  explicit FixedChunker(const Params& params) : params_(params) {}

  void Update(ByteView data, std::vector<uint64_t>* cuts) override;
  void Finish(std::vector<uint64_t>* cuts) override;
  void Reset(uint64_t offset = 0) override;
  const Params& params() const override { return params_; }

 private:
  Params params_;
  uint64_t base_ = 0;
  uint64_t pos_ = 0;  // Bytes of the current chunk consumed so far.
};

}  // namespace ferry::chunker
