#include "engine/chunk_assembler.h"

#include <cassert>

namespace ferry {

void ChunkAssembler::Reset(uint64_t offset) {
  start_ = offset;
  partial_.clear();
  buffer_ = {};
  used_ = 0;
}

void ChunkAssembler::BeginBuffer(ByteView buffer) {
  buffer_ = buffer;
  used_ = 0;
}

ChunkJob ChunkAssembler::Cut(uint64_t cut) {
  const auto len = static_cast<size_t>(cut - start_);
  ChunkJob job{start_, {}};
  start_ = cut;
  if (len <= partial_.size()) {
    if (len == partial_.size()) {
      job.data = std::move(partial_);
      partial_ = std::string();
    } else {  // A lagging cut: the rest of the partial bytes open the next chunk.
      job.data.assign(partial_, 0, len);
      partial_.erase(0, len);
    }
    return job;
  }
  const size_t from_buffer = len - partial_.size();
  assert(used_ + from_buffer <= buffer_.size());
  const char* from = reinterpret_cast<const char*>(buffer_.data()) + used_;
  used_ += from_buffer;
  if (partial_.empty()) {
    job.data.assign(from, from_buffer);
  } else {
    partial_.append(from, from_buffer);
    job.data = std::move(partial_);
    partial_ = std::string();
  }
  return job;
}

void ChunkAssembler::EndBuffer() {
  const size_t rest = buffer_.size() - used_;
  if (rest > 0) {
    // Room for the whole chunk now, so finishing it never reallocates (and copies) it.
    if (partial_.empty()) partial_.reserve(max_chunk_);
    partial_.append(reinterpret_cast<const char*>(buffer_.data()) + used_, rest);
  }
  buffer_ = {};
  used_ = 0;
}

}  // namespace ferry
