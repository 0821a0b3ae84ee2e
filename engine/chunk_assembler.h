// ChunkAssembler: turns the buffers a backup reads and the cut points its chunker finds in them
// into chunks, copying each byte once, into the chunk it belongs to. A chunk that spans buffers
// grows in a partial string that then becomes the chunk (moved, not copied again).
//
// Thread-safety: one thread (the reader's).
#pragma once

#include <cstdint>
#include <string>

#include "common/bytes.h"

namespace ferry {

// A chunk on its way from the reader to a worker.
struct ChunkJob {
  uint64_t offset = 0;
  std::string data;
};

class ChunkAssembler {
 public:
  // `max_chunk`: the chunker's largest chunk (room reserved for a chunk that spans buffers).
  explicit ChunkAssembler(size_t max_chunk) : max_chunk_(max_chunk) {}

  // Starts a run of contiguous bytes at `offset`, dropping any partial chunk.
  void Reset(uint64_t offset);
  // The run's next buffer: it starts where the bytes seen so far end, and stays valid until
  // EndBuffer() or Reset().
  void BeginBuffer(ByteView buffer);
  // The chunk from the previous cut (or the run's start) to `cut`, which lies within the bytes
  // seen so far (a chunker may report a cut that lags behind the current buffer).
  ChunkJob Cut(uint64_t cut);
  // Keeps the buffer's bytes past the last cut for the next chunk.
  void EndBuffer();

 private:
  const size_t max_chunk_;
  uint64_t start_ = 0;   // Where the next chunk starts.
  std::string partial_;  // Bytes from start_ already copied out of earlier buffers.
  ByteView buffer_;
  size_t used_ = 0;  // Bytes at the front of buffer_ already in partial_ or in chunks.
};

}  // namespace ferry
