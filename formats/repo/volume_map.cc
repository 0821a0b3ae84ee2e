#include "formats/repo/volume_map.h"

#include <fmt/format.h>

#include "common/coding.h"

namespace ferry::repo {

std::string EncodeMapPage(const std::vector<Extent>& extents) {
  std::string out;
  out.reserve(8 + extents.size() * 45);
  PutFixed32(&out, 1);
  PutFixed32(&out, static_cast<uint32_t>(extents.size()));
  for (const Extent& e : extents) {
    PutFixed64(&out, e.offset);
    PutFixed32(&out, e.length);
    PutFixed8(&out, static_cast<uint8_t>(e.kind));
    if (e.kind == ExtentKind::kChunk) {
      out.append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    }
  }
  return out;
}

Result<std::vector<Extent>> DecodeMapPage(std::string_view page, const std::string& what) {
  ByteReader r(page);
  const uint32_t version = r.U32();
  const uint32_t n = r.U32();
  // The smallest extent takes 13 bytes: a count beyond that is a lie, not a reason to allocate.
  if (r.failed() || version != 1 || n > r.remaining() / 13) {
    return Err(Status::Corruption(what + ": malformed map page header"));
  }
  std::vector<Extent> out(n);
  for (Extent& e : out) {
    e.offset = r.U64();
    e.length = r.U32();
    const uint8_t kind = r.U8();
    if (kind > 2) return Err(Status::Corruption(what + ": unknown extent kind"));
    e.kind = static_cast<ExtentKind>(kind);
    if (e.kind == ExtentKind::kChunk) r.Bytes(e.id.bytes.data(), e.id.bytes.size());
  }
  if (r.failed() || r.remaining() != 0) {
    return Err(Status::Corruption(what + ": map page length does not match its extents"));
  }
  return out;
}

Status CheckTiling(const std::vector<Extent>& extents, uint64_t size, const std::string& what) {
  uint64_t at = 0;
  for (const Extent& e : extents) {
    if (e.offset != at || e.length == 0) {
      return Status::Corruption(
          fmt::format("{}: extent at {} where {} was expected", what, e.offset, at));
    }
    at += e.length;
  }
  if (at != size) {
    return Status::Corruption(
        fmt::format("{}: extents end at {}, volume size is {}", what, at, size));
  }
  return Status();
}

}  // namespace ferry::repo
