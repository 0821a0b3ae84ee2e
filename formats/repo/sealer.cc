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

uint64_t Checksum(ByteView aad, ByteView plaintext) {
  codec::Xxh3Stream h;
  h.Update(aad);
  h.Update(plaintext);
  return h.Digest();
}
}  // namespace

std::string ChunkAad(ByteView id) { return Aad("ferry-chunk", id); }
std::string PackHeaderAad(ByteView id) { return Aad("ferry-pack", id); }
std::string IndexAad(ByteView id) { return Aad("ferry-index", id); }
std::string SnapshotAad(ByteView id) { return Aad("ferry-snapshot", id); }

Result<std::unique_ptr<Sealer>> Sealer::Create(ByteView data_key) {
  if (data_key.empty()) return std::unique_ptr<Sealer>(new Sealer(nullptr));
  FERRY_ASSIGN_OR_RETURN(auto gcm, codec::Aes256Gcm::Create(data_key));
  return std::unique_ptr<Sealer>(new Sealer(std::move(gcm)));
}

Result<size_t> Sealer::SealTo(ByteView aad, ByteView plaintext, MutableByteView out) {
  if (encrypted()) return gcm_->Seal(aad, plaintext, out);
  if (out.size() < plaintext.size() + 8) {
    return Err(Status::InvalidArgument("seal buffer too small"));
  }
  std::copy(plaintext.begin(), plaintext.end(), out.begin());
  const uint64_t sum = Checksum(aad, plaintext);
  for (size_t i = 0; i < 8; ++i) {
    out[plaintext.size() + i] = static_cast<std::byte>(sum >> (8 * i));
  }
  return plaintext.size() + 8;
}

Status Sealer::Seal(ByteView aad, ByteView plaintext, std::string* out) {
  const size_t base = out->size();
  out->resize(base + plaintext.size() + overhead());
  FERRY_ASSIGN_OR_RETURN(
      size_t n, SealTo(aad, plaintext,
                       {reinterpret_cast<std::byte*>(out->data() + base), out->size() - base}));
  out->resize(base + n);
  return Status();
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
  if (stored != Checksum(aad, {dst.data(), dst.size()})) {
    return Status::Corruption(fmt::format("{}: checksum mismatch (the blob is damaged)", what));
  }
  return Status();
}

}  // namespace ferry::repo
