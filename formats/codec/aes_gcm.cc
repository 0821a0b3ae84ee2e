#include "formats/codec/aes_gcm.h"

#include <climits>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace ferry::codec {

namespace {
EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }
const unsigned char* U(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* U(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

// OpenSSL's update functions take int lengths; blobs are at most a pack's size (64 MiB), far
// below, but a caller's mistake must not wrap.
bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }
}  // namespace

Result<std::unique_ptr<Aes256Gcm>> Aes256Gcm::Create(ByteView key) {
  if (key.size() != kAesKeySize) {
    return Err(Status::InvalidArgument("AES-256-GCM key must be 32 bytes"));
  }
  EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
  if (enc == nullptr || dec == nullptr ||
      EVP_EncryptInit_ex(enc, EVP_aes_256_gcm(), nullptr, U(key.data()), nullptr) != 1 ||
      EVP_DecryptInit_ex(dec, EVP_aes_256_gcm(), nullptr, U(key.data()), nullptr) != 1) {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    return Err(Status::IoError("cannot set up AES-256-GCM"));
  }
  return std::unique_ptr<Aes256Gcm>(new Aes256Gcm(enc, dec));
}

Aes256Gcm::~Aes256Gcm() {
  EVP_CIPHER_CTX_free(Ctx(enc_));
  EVP_CIPHER_CTX_free(Ctx(dec_));
}

Result<size_t> Aes256Gcm::Seal(ByteView aad, ByteView plaintext, MutableByteView out) {
  return SealPieces(aad, {&plaintext, 1}, out);
}

Result<size_t> Aes256Gcm::SealPieces(ByteView aad, std::span<const ByteView> pieces,
                                     MutableByteView out) {
  std::array<std::byte, kGcmNonceSize> nonce;
  if (RAND_bytes(U(nonce.data()), static_cast<int>(nonce.size())) != 1) {
    return Err(Status::IoError("the random generator failed to make a nonce"));
  }
  return SealPiecesWithNonce(nonce, aad, pieces, out);
}

Result<size_t> Aes256Gcm::SealWithNonce(ByteView nonce, ByteView aad, ByteView plaintext,
                                        MutableByteView out) {
  return SealPiecesWithNonce(nonce, aad, {&plaintext, 1}, out);
}

Result<size_t> Aes256Gcm::SealPiecesWithNonce(ByteView nonce, ByteView aad,
                                              std::span<const ByteView> pieces,
                                              MutableByteView out) {
  size_t plain_size = 0;
  for (const ByteView& p : pieces) plain_size += p.size();
  if (nonce.size() != kGcmNonceSize || out.size() < SealedSize(plain_size) ||
      !FitsInt(plain_size) || !FitsInt(aad.size())) {
    return Err(Status::InvalidArgument("bad buffer sizes for AES-256-GCM sealing"));
  }
  EVP_CIPHER_CTX* ctx = Ctx(enc_);
  std::copy(nonce.begin(), nonce.end(), out.data());
  std::byte* cipher_out = out.data() + kGcmNonceSize;
  std::byte* tag_out = cipher_out + plain_size;
  int len = 0;
  // A null cipher and key keep the key schedule; only the nonce changes per blob.
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, U(nonce.data())) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(ctx, nullptr, &len, U(aad.data()), static_cast<int>(aad.size())) != 1)) {
    return Err(Status::IoError("AES-256-GCM sealing failed"));
  }
  size_t written = 0;
  for (const ByteView& p : pieces) {
    if (p.empty()) continue;
    if (EVP_EncryptUpdate(ctx, U(cipher_out + written), &len, U(p.data()),
                          static_cast<int>(p.size())) != 1) {
      return Err(Status::IoError("AES-256-GCM sealing failed"));
    }
    written += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx, U(cipher_out + written), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagSize), U(tag_out)) !=
          1) {
    return Err(Status::IoError("AES-256-GCM sealing failed"));
  }
  return SealedSize(plain_size);
}

Result<size_t> Aes256Gcm::Open(ByteView aad, ByteView sealed, MutableByteView out) {
  if (sealed.size() < kSealOverhead) {
    return Err(Status::Corruption("sealed blob is shorter than its nonce and tag"));
  }
  const size_t plain_size = sealed.size() - kSealOverhead;
  if (out.size() < plain_size || !FitsInt(plain_size) || !FitsInt(aad.size())) {
    return Err(Status::InvalidArgument("bad buffer sizes for AES-256-GCM opening"));
  }
  EVP_CIPHER_CTX* ctx = Ctx(dec_);
  const std::byte* nonce = sealed.data();
  const std::byte* cipher = nonce + kGcmNonceSize;
  // OpenSSL's tag setter takes a non-const pointer but only reads it.
  std::array<std::byte, kGcmTagSize> tag;
  std::copy(cipher + plain_size, cipher + plain_size + kGcmTagSize, tag.begin());
  int len = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, U(nonce)) != 1 ||
      (!aad.empty() &&
       EVP_DecryptUpdate(ctx, nullptr, &len, U(aad.data()), static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(ctx, U(out.data()), &len, U(cipher), static_cast<int>(plain_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagSize),
                          U(tag.data())) != 1) {
    return Err(Status::IoError("AES-256-GCM opening failed"));
  }
  if (EVP_DecryptFinal_ex(ctx, U(out.data()) + len, &len) != 1) {
    return Err(Status::Corruption(
        "authentication failed: the blob is damaged, was moved, or the key is wrong"));
  }
  return plain_size;
}

}  // namespace ferry::codec
