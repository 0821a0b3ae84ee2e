#include "formats/repo/sealer.h"

#include <fmt/format.h>

#include "common/coding.h"

#include "formats/codec/xxh3.h"

namespace ferry::repo {

namespace {
std::string Aad(std::string_view label, ByteView id) {
  std::string out(label);
  out.push_back('\0');
  out.append(reinterpret_cast<const char*>(id.data()), id.size());
  return out;
}

uint64_t Checksum(ByteView aad, std::span<const ByteView> pieces) {
  codec::Xxh3Stream h;
  h.Update(aad);
  for (const ByteView& p : pieces) h.Update(p);
  return h.Digest();
}
}  // namespace

std::string ChunkAad(ByteView id) { return Aad("ferry-chunk", id); }
std::string PackHeaderAad(ByteView id) { return Aad("ferry-pack", id); }
std::string IndexAad(ByteView id) { return Aad("ferry-index", id); }
std::string SnapshotAad(ByteView id) { return Aad("ferry-snapshot", id); }
std::string PruneRecordAad(ByteView id) { return Aad("ferry-prune", id); }
std::string LockAad(ByteView session, uint32_t generation) {
  std::string out = Aad("ferry-lock", session);
  PutFixed32(&out, generation);
  return out;
}

Result<std::unique_ptr<Sealer>> Sealer::Create(ByteView data_key) {
  if (data_key.empty()) return std::unique_ptr<Sealer>(new Sealer(nullptr));
  FERRY_ASSIGN_OR_RETURN(auto gcm, codec::Aes256Gcm::Create(data_key));
  return std::unique_ptr<Sealer>(new Sealer(std::move(gcm)));
}

Status Sealer::Seal(ByteView aad, ByteView plaintext, std::string* out) {
  return SealPieces(aad, {&plaintext, 1}, out);
}

Status Sealer::SealPieces(ByteView aad, std::span<const ByteView> pieces, std::string* out) {
  size_t plain_size = 0;
  for (const ByteView& p : pieces) plain_size += p.size();
  const size_t base = out->size();
  out->resize(base + plain_size + overhead());
  FERRY_ASSIGN_OR_RETURN(size_t n, SealPiecesInto(aad, pieces,
                                                  {reinterpret_cast<std::byte*>(out->data() + base),
                                                   out->size() - base}));
  out->resize(base + n);
  return Status();
}

Result<size_t> Sealer::SealPiecesInto(ByteView aad, std::span<const ByteView> pieces,
                                      MutableByteView out) {
  size_t plain_size = 0;
  for (const ByteView& p : pieces) plain_size += p.size();
  if (out.size() < plain_size + overhead()) {
    return Err(
        Status::InvalidArgument(fmt::format("sealing {} bytes needs {} bytes of room, got {}",
                                            plain_size, plain_size + overhead(), out.size())));
  }
  if (encrypted()) return gcm_->SealPieces(aad, pieces, out);
  size_t at = 0;
  for (const ByteView& p : pieces) {
    std::copy(p.begin(), p.end(), out.begin() + static_cast<ptrdiff_t>(at));
    at += p.size();
  }
  const uint64_t sum = Checksum(aad, pieces);
  for (size_t i = 0; i < 8; ++i) out[at + i] = static_cast<std::byte>(sum >> (8 * i));
  return at + 8;
}

Status Sealer::Open(ByteView aad, ByteView sealed, std::string* out, std::string_view what) {
  if (sealed.size() < overhead()) {
    return Status::Corruption(
        fmt::format("{}: sealed blob of {} bytes is too short", what, sealed.size()));
  }
  const size_t plain = sealed.size() - overhead();
  out->resize(plain);
  MutableByteView dst{reinterpret_cast<std::byte*>(out->data()), out->size()};
  if (encrypted()) {
    auto r = gcm_->Open(aad, sealed, dst);
    if (!r) return r.error().WithContext(what);
    return Status();
  }
  std::copy(sealed.begin(), sealed.begin() + static_cast<ptrdiff_t>(plain), dst.begin());
  const uint64_t stored = DecodeFixed64(reinterpret_cast<const char*>(sealed.data()) + plain);
  const ByteView opened{dst.data(), dst.size()};
  if (stored != Checksum(aad, {&opened, 1})) {
    return Status::Corruption(fmt::format("{}: checksum mismatch (the blob is damaged)", what));
  }
  return Status();
}

}  // namespace ferry::repo
