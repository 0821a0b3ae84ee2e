#include "formats/qcow2/cluster_codec.h"

#include <fmt/format.h>
#include <zlib.h>
#include <zstd.h>

namespace ferry::qcow2 {

namespace {

constexpr int kDeflateWindowBits = -12;  // Raw deflate, 4 KiB window: what QEMU writes.

// Codec state of one thread, made on first use and reset per cluster: a backup or an export
// handles clusters by the million, and setting up zstd or zlib state costs more than a small
// cluster's work.
class ThreadCodecs {
 public:
  ~ThreadCodecs() {
    ZSTD_freeCCtx(zstd_c_);
    ZSTD_freeDCtx(zstd_d_);
    if (deflate_ready_) deflateEnd(&deflate_);
    if (inflate_ready_) inflateEnd(&inflate_);
  }
  static ThreadCodecs& Get() {
    thread_local ThreadCodecs codecs;
    return codecs;
  }
  ZSTD_CCtx* zstd_compressor() {
    if (zstd_c_ == nullptr) zstd_c_ = ZSTD_createCCtx();
    return zstd_c_;
  }
  ZSTD_DCtx* zstd_decompressor() {
    if (zstd_d_ == nullptr) {
      zstd_d_ = ZSTD_createDCtx();
    } else {
      ZSTD_DCtx_reset(zstd_d_, ZSTD_reset_session_only);
    }
    return zstd_d_;
  }
  // A deflate stream ready for a new cluster, or null if zlib could not make one.
  z_stream* deflater() {
    if (!deflate_ready_) {
      deflate_ready_ = deflateInit2(&deflate_, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                                    kDeflateWindowBits, 9, Z_DEFAULT_STRATEGY) == Z_OK;
    } else {
      deflateReset(&deflate_);
    }
    return deflate_ready_ ? &deflate_ : nullptr;
  }
  z_stream* inflater() {
    if (!inflate_ready_) {
      inflate_ready_ = inflateInit2(&inflate_, kDeflateWindowBits) == Z_OK;
    } else {
      inflateReset(&inflate_);
    }
    return inflate_ready_ ? &inflate_ : nullptr;
  }

 private:
  ZSTD_CCtx* zstd_c_ = nullptr;
  ZSTD_DCtx* zstd_d_ = nullptr;
  z_stream deflate_{};
  z_stream inflate_{};
  bool deflate_ready_ = false;
  bool inflate_ready_ = false;
};

Status InflateCluster(ByteView in, MutableByteView out, const std::string& what) {
  z_stream* s = ThreadCodecs::Get().inflater();
  if (s == nullptr) return Status::IoError("zlib: inflateInit2 failed");
  s->next_in = const_cast<Bytef*>(AsU8(in));
  s->avail_in = static_cast<uInt>(in.size());
  s->next_out = AsU8(out);
  s->avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(s, Z_FINISH);
  const bool full = s->avail_out == 0;
  // Z_BUF_ERROR with a full output: the cluster is complete and the rest is sector padding.
  if ((rc == Z_STREAM_END || rc == Z_BUF_ERROR) && full) return Status();
  return Status::Corruption(
      fmt::format("{}: compressed cluster does not inflate to a whole "
                  "cluster (zlib status {})",
                  what, rc));
}

Status ZstdDecompressCluster(ByteView in, MutableByteView out, const std::string& what) {
  ZSTD_DCtx* ctx = ThreadCodecs::Get().zstd_decompressor();
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
    ZSTD_CCtx* ctx = ThreadCodecs::Get().zstd_compressor();
    if (ctx == nullptr) return Err(Status::IoError("zstd: out of memory"));
    out->resize(ZSTD_compressBound(in.size()));
    const size_t n = ZSTD_compressCCtx(ctx, out->data(), out->size(), in.data(), in.size(), 3);
    if (ZSTD_isError(n)) {
      return Err(Status::IoError(fmt::format("zstd: {}", ZSTD_getErrorName(n))));
    }
    return n < max_size ? n : 0;
  }
  z_stream* s = ThreadCodecs::Get().deflater();
  if (s == nullptr) return Err(Status::IoError("zlib: deflateInit2 failed"));
  out->resize(deflateBound(s, static_cast<uLong>(in.size())));
  s->next_in = const_cast<Bytef*>(AsU8(in));
  s->avail_in = static_cast<uInt>(in.size());
  s->next_out = reinterpret_cast<Bytef*>(out->data());
  s->avail_out = static_cast<uInt>(out->size());
  const int rc = deflate(s, Z_FINISH);
  const size_t n = out->size() - s->avail_out;
  if (rc != Z_STREAM_END) return Err(Status::IoError(fmt::format("zlib: deflate {}", rc)));
  return n < max_size ? n : 0;
}

}  // namespace ferry::qcow2
