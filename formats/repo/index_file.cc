#include "formats/repo/index_file.h"

#include <fmt/format.h>

#include "common/coding.h"

namespace ferry::repo {

namespace {
constexpr size_t kEntrySize = 32 + 16 + 1 + 4 + 4 + 4;
}

Result<std::string> EncodeIndex(Sealer& sealer, const ObjectId& index_id,
                                const std::vector<IndexEntry>& entries) {
  std::string plain;
  plain.reserve(8 + entries.size() * kEntrySize);
  PutFixed32(&plain, 1);
  PutFixed32(&plain, static_cast<uint32_t>(entries.size()));
  for (const IndexEntry& e : entries) {
    plain.append(reinterpret_cast<const char*>(e.id.bytes.data()), 32);
    plain.append(reinterpret_cast<const char*>(e.pack.bytes.data()), 16);
    PutFixed8(&plain, static_cast<uint8_t>(e.type));
    PutFixed32(&plain, e.offset);
    PutFixed32(&plain, e.stored_size);
    PutFixed32(&plain, e.raw_size);
  }
  std::string out;
  FERRY_RETURN_IF_ERROR(sealer.Seal(AsBytes(IndexAad(index_id.view())), AsBytes(plain), &out));
  return out;
}

Result<std::vector<IndexEntry>> DecodeIndex(Sealer& sealer, const ObjectId& index_id,
                                            std::string_view sealed, const std::string& name) {
  std::string plain;
  FERRY_RETURN_IF_ERROR(
      sealer.Open(AsBytes(IndexAad(index_id.view())), AsBytes(sealed), &plain, name));
  ByteReader r(plain);
  const uint32_t version = r.U32();
  const uint32_t n = r.U32();
  if (r.failed() || version != 1 || n != r.remaining() / kEntrySize ||
      r.remaining() % kEntrySize != 0) {
    return Err(Status::Corruption(name + ": malformed index"));
  }
  std::vector<IndexEntry> out(n);
  for (IndexEntry& e : out) {
    r.Bytes(e.id.bytes.data(), 32);
    r.Bytes(e.pack.bytes.data(), 16);
    const uint8_t type = r.U8();
    if (type > 1) return Err(Status::Corruption(name + ": unknown blob type"));
    e.type = static_cast<BlobType>(type);
    e.offset = r.U32();
    e.stored_size = r.U32();
    e.raw_size = r.U32();
  }
  return out;
}

}  // namespace ferry::repo
