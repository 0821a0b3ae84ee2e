#include "chunker/fixed.h"

namespace ferry::chunker {

void FixedChunker::Update(ByteView data, std::vector<uint64_t>* cuts) {
  const uint64_t size = params_.avg_size;
  uint64_t remaining = data.size();
  uint64_t at = base_;
  while (remaining > 0) {
    const uint64_t step = std::min(size - pos_, remaining);
    pos_ += step;
    at += step;
    remaining -= step;
    if (pos_ == size) {
      cuts->push_back(at);
      pos_ = 0;
    }
  }
  base_ = at;
}

void FixedChunker::Finish(std::vector<uint64_t>* cuts) {
  if (pos_ > 0) cuts->push_back(base_);
  Reset(0);
}

void FixedChunker::Reset(uint64_t offset) {
  base_ = offset;
  pos_ = 0;
}

}  // namespace ferry::chunker
