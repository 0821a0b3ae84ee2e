// zstd compression with reused contexts, and the "store raw when it does not pay" rule.
//
// Thread-safety: each object is used by one thread at a time (one per worker, as zstd advises
// for its contexts). Neither allocates after construction, except zstd's own first-use tables.
#pragma once

#include <cstddef>
#include <memory>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::codec {

struct CompressOutcome {
  // True when compressing did not save at least 1/32 of the input: the caller stores the input
  // as it is (no copy was made) and `size` is 0.
  bool stored_raw = false;
  size_t size = 0;  // Bytes written to dst when !stored_raw.
};

class ZstdCompressor {
 public:
  // `level`: zstd level, 1 (fastest) to 19; negative levels are zstd's fast modes.
  // Errors: kInvalidArgument for a level zstd does not accept.
  static Result<std::unique_ptr<ZstdCompressor>> Create(int level);
  ~ZstdCompressor();
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;

  int level() const { return level_; }
  // Upper bound of compressed bytes for `input_size` bytes (ZSTD_compressBound).
  static size_t MaxOutputSize(size_t input_size);

  // Compresses `src` into `dst`. REQUIRES: dst.size() >= MaxOutputSize(src.size()).
  // Errors: kIoError if zstd fails (it does not for valid arguments).
  Result<CompressOutcome> Compress(ByteView src, MutableByteView dst);

 private:
  ZstdCompressor(void* cctx, int level) : cctx_(cctx), level_(level) {}
  void* cctx_;  // ZSTD_CCtx
  int level_;
};

class ZstdDecompressor {
 public:
  ZstdDecompressor();
  ~ZstdDecompressor();
  ZstdDecompressor(const ZstdDecompressor&) = delete;
  ZstdDecompressor& operator=(const ZstdDecompressor&) = delete;

  // Decompresses `src`, which must expand to exactly dst.size() bytes (the raw length recorded
  // beside the compressed data). Untrusted input: never writes past dst.
  // Errors: kCorruption if src is not a valid zstd frame or its size differs from dst.size().
  Status Decompress(ByteView src, MutableByteView dst);

 private:
  void* dctx_;  // ZSTD_DCtx
};

}  // namespace ferry::codec
