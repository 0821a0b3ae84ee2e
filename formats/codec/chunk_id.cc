#include "formats/codec/chunk_id.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "formats/codec/sha256_pair.h"

namespace ferry::codec {

std::string ChunkId::ToHex() const { return ferry::ToHex(view()); }

struct ChunkIdHasher::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  // The SHA-256 states after the key's inner and outer pad blocks (RFC 2104), where HashMany
  // starts every message.
  sha256::State inner_start{}, outer_start{};
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
  // RFC 2104: a key longer than a block is hashed first; the key is zero-padded to a block.
  uint8_t block_key[sha256::kBlockSize] = {};
  if (key.size() > sha256::kBlockSize) {
    const sha256::Digest d =
        sha256::Finish({.data = reinterpret_cast<const uint8_t*>(key.data()), .size = key.size()});
    std::copy(d.begin(), d.end(), block_key);
  } else {
    std::memcpy(block_key, key.data(), key.size());
  }
  uint8_t pad[sha256::kBlockSize];
  for (size_t i = 0; i < sizeof(pad); ++i) pad[i] = block_key[i] ^ 0x36;
  impl->inner_start = sha256::kInitialState;
  sha256::CompressBlocks(impl->inner_start, pad, 1);
  for (size_t i = 0; i < sizeof(pad); ++i) pad[i] = block_key[i] ^ 0x5c;
  impl->outer_start = sha256::kInitialState;
  sha256::CompressBlocks(impl->outer_start, pad, 1);
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

void ChunkIdHasher::HashMany(std::span<const ByteView> data, std::span<ChunkId> ids) {
  // A bounded batch on the stack keeps HashMany allocation-free.
  constexpr size_t kBatch = 64;
  if (data.size() < 2 || !sha256::PairsAvailable()) {  // Hash() is OpenSSL's code.
    for (size_t i = 0; i < data.size(); ++i) ids[i] = Hash(data[i]);
    return;
  }
  sha256::Continuation messages[kBatch];
  sha256::Digest inner[kBatch], outer[kBatch];
  for (size_t first = 0; first < data.size(); first += kBatch) {
    const size_t n = std::min(kBatch, data.size() - first);
    for (size_t i = 0; i < n; ++i) {
      const ByteView d = data[first + i];
      messages[i] = {.start = impl_->inner_start,
                     .prefix_bytes = sha256::kBlockSize,
                     .data = reinterpret_cast<const uint8_t*>(d.data()),
                     .size = d.size()};
    }
    sha256::FinishMany({messages, n}, {inner, n});
    for (size_t i = 0; i < n; ++i) {
      messages[i] = {.start = impl_->outer_start,
                     .prefix_bytes = sha256::kBlockSize,
                     .data = inner[i].data(),
                     .size = inner[i].size()};
    }
    sha256::FinishMany({messages, n}, {outer, n});
    for (size_t i = 0; i < n; ++i) {
      std::copy(outer[i].begin(), outer[i].end(), ids[first + i].bytes.begin());
    }
  }
}

}  // namespace ferry::codec
