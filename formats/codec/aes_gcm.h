// AES-256-GCM sealing of blobs (chunks, pack headers, index and snapshot objects).
//
// A sealed blob is   nonce (12 bytes) || ciphertext (same length as the plaintext) || tag (16).
// The nonce is random per blob (96 bits: safe for far more blobs than a repository will hold
// under one key). The associated data binds a blob to what it claims to be (its type and id), so
// a blob moved or swapped within the repository fails to open.
//
// Thread-safety: one Aes256Gcm per thread (it reuses its cipher context and key schedule).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::codec {

inline constexpr size_t kAesKeySize = 32;
inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;
inline constexpr size_t kSealOverhead = kGcmNonceSize + kGcmTagSize;

class Aes256Gcm {
 public:
  // Errors: kInvalidArgument unless key.size() == 32; kIoError if OpenSSL fails to set up.
  static Result<std::unique_ptr<Aes256Gcm>> Create(ByteView key);
  ~Aes256Gcm();
  Aes256Gcm(const Aes256Gcm&) = delete;
  Aes256Gcm& operator=(const Aes256Gcm&) = delete;

  static constexpr size_t SealedSize(size_t plaintext_size) {
    return plaintext_size + kSealOverhead;
  }

  // Seals `plaintext` with a fresh random nonce into `out`, returning the bytes written
  // (SealedSize(plaintext.size())). REQUIRES: out.size() >= SealedSize(...), no overlap.
  // Errors: kIoError if the random generator or the cipher fails.
  Result<size_t> Seal(ByteView aad, ByteView plaintext, MutableByteView out);

  // As Seal() for a plaintext given in pieces (sealed as their concatenation, without
  // concatenating them first: a header byte and a chunk need no copy).
  Result<size_t> SealPieces(ByteView aad, std::span<const ByteView> pieces, MutableByteView out);

  // As Seal() with a caller-chosen nonce: for published test vectors only. Reusing a nonce
  // under one key destroys GCM's security.
  Result<size_t> SealWithNonce(ByteView nonce, ByteView aad, ByteView plaintext,
                               MutableByteView out);

  // Opens a blob made by Seal() with the same `aad`, writing the plaintext to `out` and
  // returning its size (sealed.size() - kSealOverhead). REQUIRES: out.size() >= that, no overlap.
  // Errors: kCorruption "authentication failed …" if the blob, its associated data or the key
  // differ from what sealed it (a single flipped bit is enough); kCorruption if it is too short.
  Result<size_t> Open(ByteView aad, ByteView sealed, MutableByteView out);

 private:
  Result<size_t> SealPiecesWithNonce(ByteView nonce, ByteView aad, std::span<const ByteView> pieces,
                                     MutableByteView out);
  explicit Aes256Gcm(void* enc, void* dec) : enc_(enc), dec_(dec) {}
  void* enc_;  // EVP_CIPHER_CTX with the key set, for sealing.
  void* dec_;  // EVP_CIPHER_CTX with the key set, for opening.
};

}  // namespace ferry::codec
