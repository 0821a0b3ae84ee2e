#include "formats/repo/pack.h"

#include <cstring>

#include <fmt/format.h>

#include "common/coding.h"

namespace ferry::repo {

namespace {
constexpr size_t kEntrySize = 1 + 32 + 4 + 4 + 4;
// A 128 MiB pack of minimum-size blobs (header only) holds fewer than this.
constexpr uint32_t kMaxEntries = 4u << 20;
}  // namespace

std::string PackName(const ObjectId& id) {
  const std::string hex = id.ToHex();
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

void PackBuilder::Add(BlobType type, const codec::ChunkId& id, uint32_t stored_size,
                      uint32_t raw_size) {
  entries_.push_back({type, id, static_cast<uint32_t>(size_), stored_size, raw_size});
  size_ += stored_size;
}

Result<std::string> PackBuilder::Finish(Sealer& sealer) const {
  std::string header;
  header.reserve(8 + entries_.size() * kEntrySize);
  PutFixed32(&header, 1);
  PutFixed32(&header, static_cast<uint32_t>(entries_.size()));
  for (const PackEntry& e : entries_) {
    PutFixed8(&header, static_cast<uint8_t>(e.type));
    header.append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    PutFixed32(&header, e.offset);
    PutFixed32(&header, e.stored_size);
    PutFixed32(&header, e.raw_size);
  }
  std::string tail;
  FERRY_RETURN_IF_ERROR(sealer.Seal(AsBytes(PackHeaderAad(id_.view())), AsBytes(header), &tail));
  PutFixed32(&tail, static_cast<uint32_t>(tail.size()));
  tail.append(kPackMagic, sizeof(kPackMagic));
  return tail;
}

Result<uint32_t> ParsePackTrailer(std::string_view trailer, uint64_t pack_size,
                                  const std::string& pack_name) {
  if (trailer.size() != kPackTrailerSize || pack_size < kPackTrailerSize) {
    return Err(
        Status::Corruption(fmt::format("{}: truncated (only {} bytes)", pack_name, pack_size)));
  }
  if (std::memcmp(trailer.data() + 4, kPackMagic, sizeof(kPackMagic)) != 0) {
    return Err(Status::Corruption(pack_name + ": bad magic (truncated or not a pack)"));
  }
  const uint32_t header_size = DecodeFixed32(trailer.data());
  if (header_size > pack_size - kPackTrailerSize) {
    return Err(Status::Corruption(
        fmt::format("{}: header size {} exceeds the pack", pack_name, header_size)));
  }
  return header_size;
}

Result<std::vector<PackEntry>> ParsePackHeader(Sealer& sealer, const ObjectId& pack_id,
                                               std::string_view sealed_header,
                                               uint64_t blob_area_size,
                                               const std::string& pack_name) {
  std::string header;
  FERRY_RETURN_IF_ERROR(sealer.Open(AsBytes(PackHeaderAad(pack_id.view())), AsBytes(sealed_header),
                                    &header, pack_name + " header"));
  ByteReader r(header);
  const uint32_t version = r.U32();
  const uint32_t n = r.U32();
  if (r.failed() || version != 1) {
    return Err(Status::Corruption(pack_name + ": unknown pack header version"));
  }
  if (n > r.remaining() / kEntrySize || n > kMaxEntries) {
    return Err(Status::Corruption(fmt::format("{}: header claims {} entries", pack_name, n)));
  }
  std::vector<PackEntry> entries(n);
  for (PackEntry& e : entries) {
    const uint8_t type = r.U8();
    r.Bytes(e.id.bytes.data(), e.id.bytes.size());
    e.offset = r.U32();
    e.stored_size = r.U32();
    e.raw_size = r.U32();
    if (type > 1) return Err(Status::Corruption(pack_name + ": unknown blob type"));
    e.type = static_cast<BlobType>(type);
    if (uint64_t{e.offset} + e.stored_size > blob_area_size) {
      return Err(Status::Corruption(fmt::format("{}: blob at {}+{} lies outside the pack",
                                                pack_name, e.offset, e.stored_size)));
    }
  }
  if (r.failed() || r.remaining() != 0) {
    return Err(Status::Corruption(pack_name + ": header length does not match its entries"));
  }
  return entries;
}

}  // namespace ferry::repo
