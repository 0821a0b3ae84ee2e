#include "formats/qcow2/cluster_codec.h"

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

namespace ferry::qcow2 {

namespace {

constexpr int kDeflateWindowBits = -12;  // Raw deflate, 4 KiB window: what QEMU writes.

Status InflateCluster(ByteView in, MutableByteView out, const std::string& what) {
  z_stream s{};
  if (inflateInit2(&s, kDeflateWindowBits) != Z_OK) {
    return Status::IoError("zlib: inflateInit2 failed");
  }
  s.next_in = const_cast<Bytef*>(AsU8(in));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = AsU8(out);
  s.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&s, Z_FINISH);
  const bool full = s.avail_out == 0;
  inflateEnd(&s);
  // Z_BUF_ERROR with a full output: the cluster is complete and the rest is sector padding.
  if ((rc == Z_STREAM_END || rc == Z_BUF_ERROR) && full) return Status();
  return Status::Corruption(
      fmt::format("{}: compressed cluster does not inflate to a whole "
                  "cluster (zlib status {})",
                  what, rc));
}

Status ZstdDecompressCluster(ByteView in, MutableByteView out, const std::string& what) {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (ctx == nullptr) return Status::IoError("zstd: out of memory");
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  ZSTD_outBuffer dst{out.data(), out.size(), 0};
  Status status;
  // Several frames may follow one another; stop once the cluster is whole.
  while (dst.pos < dst.size) {
    const size_t rc = ZSTD_decompressStream(ctx, &dst, &src);
    if (ZSTD_isError(rc)) {
      status = Status::Corruption(
          fmt::format("{}: compressed cluster: zstd: {}", what, ZSTD_getErrorName(rc)));
      break;
    }
    if (src.pos == src.size && dst.pos < dst.size) {
      status = Status::Corruption(
          fmt::format("{}: compressed cluster ends after {} of {} bytes", what, dst.pos, dst.size));
      break;
    }
  }
  ZSTD_freeDCtx(ctx);
  return status;
}

}  // namespace

Status DecompressCluster(Compression type, ByteView in, MutableByteView out,
                         const std::string& what) {
  return type == Compression::kZstd ? ZstdDecompressCluster(in, out, what)
                                    : InflateCluster(in, out, what);
}

Result<size_t> CompressCluster(Compression type, ByteView in, std::string* out, size_t max_size) {
  if (type == Compression::kZstd) {
    out->resize(ZSTD_compressBound(in.size()));
    const size_t n = ZSTD_compress(out->data(), out->size(), in.data(), in.size(), 3);
    if (ZSTD_isError(n)) {
      return Err(Status::IoError(fmt::format("zstd: {}", ZSTD_getErrorName(n))));
    }
    return n < max_size ? n : 0;
  }
  z_stream s{};
  if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kDeflateWindowBits, 9,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return Err(Status::IoError("zlib: deflateInit2 failed"));
  }
  out->resize(deflateBound(&s, static_cast<uLong>(in.size())));
  s.next_in = const_cast<Bytef*>(AsU8(in));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out->data());
  s.avail_out = static_cast<uInt>(out->size());
  const int rc = deflate(&s, Z_FINISH);
  const size_t n = out->size() - s.avail_out;
  deflateEnd(&s);
  if (rc != Z_STREAM_END) return Err(Status::IoError(fmt::format("zlib: deflate {}", rc)));
  return n < max_size ? n : 0;
}

}  // namespace ferry::qcow2
