#include "formats/codec/zstd_codec.h"

#include <cstdlib>

#include <fmt/format.h>
#include <zstd.h>

namespace ferry::codec {

namespace {
ZSTD_CCtx* C(void* p) { return static_cast<ZSTD_CCtx*>(p); }
ZSTD_DCtx* D(void* p) { return static_cast<ZSTD_DCtx*>(p); }
}  // namespace

Result<std::unique_ptr<ZstdCompressor>> ZstdCompressor::Create(int level) {
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel() || level == 0) {
    return Err(
        Status::InvalidArgument(fmt::format("zstd level {} is out of bounds [{}, -1] or [1, {}]",
                                            level, ZSTD_minCLevel(), ZSTD_maxCLevel())));
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return Err(Status::IoError("cannot allocate a zstd compression context"));
  // Frames carry their content size (so readers can check it) and no checksum of their own:
  // every chunk is verified against its keyed id after decompression.
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  return std::unique_ptr<ZstdCompressor>(new ZstdCompressor(cctx, level));
}

ZstdCompressor::~ZstdCompressor() { ZSTD_freeCCtx(C(cctx_)); }

size_t ZstdCompressor::MaxOutputSize(size_t input_size) { return ZSTD_compressBound(input_size); }

Result<CompressOutcome> ZstdCompressor::Compress(ByteView src, MutableByteView dst) {
  const size_t n = ZSTD_compress2(C(cctx_), dst.data(), dst.size(), src.data(), src.size());
  if (ZSTD_isError(n)) {
    return Err(Status::IoError(fmt::format("zstd compression failed: {}", ZSTD_getErrorName(n))));
  }
  if (n + src.size() / 32 >= src.size()) return CompressOutcome{true, 0};
  return CompressOutcome{false, n};
}

ZstdDecompressor::ZstdDecompressor() : dctx_(ZSTD_createDCtx()) {
  if (dctx_ == nullptr) std::abort();  // Out of memory for a fixed-size context.
}

ZstdDecompressor::~ZstdDecompressor() { ZSTD_freeDCtx(D(dctx_)); }

Status ZstdDecompressor::Decompress(ByteView src, MutableByteView dst) {
  // The frame header's declared size is checked first, so a forged header cannot make us
  // decompress more than the caller expects (a decompression bomb).
  const unsigned long long declared = ZSTD_getFrameContentSize(src.data(), src.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return Status::Corruption("zstd frame header is invalid");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != dst.size()) {
    return Status::Corruption(
        fmt::format("zstd frame declares {} bytes, expected {}", declared, dst.size()));
  }
  const size_t n = ZSTD_decompressDCtx(D(dctx_), dst.data(), dst.size(), src.data(), src.size());
  if (ZSTD_isError(n)) {
    return Status::Corruption(fmt::format("zstd data is corrupt: {}", ZSTD_getErrorName(n)));
  }
  if (n != dst.size()) {
    return Status::Corruption(
        fmt::format("zstd data expanded to {} bytes, expected {}", n, dst.size()));
  }
  return Status();
}

}  // namespace ferry::codec
