// Sealer: seals and opens every stored blob of a repository (docs/FORMAT.md §2), with
// AES-256-GCM under the data key or, for unencrypted repositories, with an XXH3-64 trailer that
// detects damage. Associated data names what a blob is, so a blob moved elsewhere fails.
//
// Thread-safety: one Sealer per thread (it owns cipher contexts). Create() is cheap enough to
// call once per worker.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

#include "formats/codec/aes_gcm.h"

namespace ferry::repo {

class Sealer {
 public:
  // `data_key` is 32 bytes for an encrypted repository, empty for an unencrypted one.
  static Result<std::unique_ptr<Sealer>> Create(ByteView data_key);

  bool encrypted() const { return gcm_ != nullptr; }
  // Bytes added by sealing.
  size_t overhead() const { return encrypted() ? codec::kSealOverhead : 8; }

  // Appends the sealed form of `plaintext` to `*out`.
  Status Seal(ByteView aad, ByteView plaintext, std::string* out);
  // As Seal() for a plaintext given in pieces, sealed as their concatenation without copying
  // them together first.
  Status SealPieces(ByteView aad, std::span<const ByteView> pieces, std::string* out);
  // As SealPieces() into `out`, which holds at least the plaintext's size + overhead() bytes
  // (a buffer reused across blobs, so nothing is zero-filled first). Returns the sealed size.
  Result<size_t> SealPiecesInto(ByteView aad, std::span<const ByteView> pieces,
                                MutableByteView out);

  // Opens `sealed` into `*out` (replacing its contents). Errors: kCorruption naming `what`
  // ("authentication failed" / "checksum mismatch" / "too short").
  Status Open(ByteView aad, ByteView sealed, std::string* out, std::string_view what);

 private:
  explicit Sealer(std::unique_ptr<codec::Aes256Gcm> gcm) : gcm_(std::move(gcm)) {}
  std::unique_ptr<codec::Aes256Gcm> gcm_;
};

// Associated data for each kind of blob (docs/FORMAT.md §2.1).
std::string ChunkAad(ByteView chunk_id);
std::string PackHeaderAad(ByteView pack_id);
std::string IndexAad(ByteView index_id);
std::string SnapshotAad(ByteView snapshot_id);
std::string PruneRecordAad(ByteView record_id);
std::string LockAad(ByteView session_id, uint32_t generation);

}  // namespace ferry::repo
