#include "formats/codec/chunk_id.h"

#include <cstdlib>

#include <openssl/core_names.h>
#include <openssl/evp.h>

namespace ferry::codec {

std::string ChunkId::ToHex() const { return ferry::ToHex(view()); }

struct ChunkIdHasher::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  ~Impl() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

ChunkIdHasher::ChunkIdHasher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChunkIdHasher::~ChunkIdHasher() = default;

Result<std::unique_ptr<ChunkIdHasher>> ChunkIdHasher::Create(ByteView key) {
  if (key.empty()) return Err(Status::InvalidArgument("chunk id key is empty"));
  auto impl = std::make_unique<Impl>();
  impl->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (impl->mac == nullptr) return Err(Status::IoError("OpenSSL has no HMAC implementation"));
  impl->ctx = EVP_MAC_CTX_new(impl->mac);
  if (impl->ctx == nullptr) return Err(Status::IoError("cannot allocate an HMAC context"));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(impl->ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1) {
    return Err(Status::IoError("cannot initialise HMAC-SHA-256"));
  }
  return std::unique_ptr<ChunkIdHasher>(new ChunkIdHasher(std::move(impl)));
}

ChunkId ChunkIdHasher::Hash(ByteView data) {
  // Re-initialising with a null key keeps the key schedule (the precomputed inner and outer
  // pad states), so each chunk costs only its own SHA-256 blocks plus two.
  ChunkId id;
  size_t out_len = 0;
  if (EVP_MAC_init(impl_->ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(impl_->ctx, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1 ||
      EVP_MAC_final(impl_->ctx, id.bytes.data(), &out_len, id.bytes.size()) != 1 ||
      out_len != kChunkIdSize) {
    // Only a broken OpenSSL gets here; an id we cannot trust must never be used.
    std::abort();
  }
  return id;
}

}  // namespace ferry::codec
