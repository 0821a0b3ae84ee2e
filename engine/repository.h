// Repository: an opened ferry repository (docs/FORMAT.md) on a Transport: its config, master key
// and chunk index, and the operations every job shares (resolve snapshots, read and write
// chunk blobs).
//
// Thread-safety: after Open() and LoadIndex(), the const methods and the chunk codec functions
// may be used from many threads; AddToIndex() and LoadIndex() need external synchronisation.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"

#include "formats/codec/chunk_id.h"
#include "formats/codec/zstd_codec.h"
#include "formats/repo/index_file.h"
#include "formats/repo/key_file.h"
#include "formats/repo/repo_config.h"
#include "formats/repo/sealer.h"
#include "formats/repo/snapshot.h"
#include "transports/transport.h"

namespace ferry {

struct InitOptions {
  bool encrypted = true;
  std::string passphrase;  // REQUIRED when encrypted.
  int compression_level = 3;
  // For backups with a parent (docs/FORMAT.md §3); unset: level 1, or 0 when compression_level
  // is 0. An incremental's cost should follow what changed: level 1 takes about a fifth off its
  // time for about 2% more of its bytes (bench/RESULTS.md, issue #4).
  std::optional<int> incremental_compression_level;
  chunker::Params chunker = repo::RepoConfig{}.chunker;
  uint32_t pack_size = repo::kDefaultPackSize;
  codec::ScryptParams scrypt;  // Cost of the passphrase key derivation.
  // S3 Object Lock for every object written from now on (docs/FORMAT.md §15); the transport
  // must be able to (an S3 bucket created with Object Lock).
  repo::ObjectLockSettings object_lock;
};

struct ChunkLocation {
  repo::ObjectId pack;
  repo::BlobType type = repo::BlobType::kData;
  uint32_t offset = 0;
  uint32_t stored_size = 0;
  uint32_t raw_size = 0;
};

struct ChunkIdHash {
  size_t operator()(const codec::ChunkId& id) const noexcept {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof(h));
    return h;
  }
};

class Repository {
 public:
  // Creates a repository in the (empty) namespace of `transport`. Errors: kAlreadyExists if a
  // config is there; kInvalidArgument for bad options; kNotSupported when Object Lock is asked
  // for and the transport cannot (nothing is written then).
  static Result<std::unique_ptr<Repository>> Init(std::unique_ptr<Transport> transport,
                                                  const InitOptions& options);
  // Opens an existing repository. Errors: kNotFound "no ferry repository at …";
  // kNotSupported for another format or version; kPermissionDenied "wrong passphrase";
  // kCorruption for a damaged config or key. A repository under Object Lock opens on a
  // transport that cannot lock (a copy on a local disk, say) for reading: CheckWritable() says
  // why it cannot be written.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Transport> transport,
                                                  std::string_view passphrase);
  // Like Open, but asks `passphrase` for it only if the repository is encrypted (a prompt, a
  // file): the config is read once, where asking first took a round trip of its own. Errors as
  // Open(), and passphrase()'s.
  using PassphraseSource = std::function<Result<std::string>()>;
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Transport> transport,
                                                  const PassphraseSource& passphrase);

  Transport& transport() { return *transport_; }
  const repo::RepoConfig& config() const { return config_; }
  const repo::MasterKey& key() const { return key_; }
  // The key file this repository was opened with (keys/<id>), and the exact bytes of its
  // config, to which every key file is bound (docs/FORMAT.md §4). See engine/repo_keys.h.
  const repo::ObjectId& key_id() const { return key_id_; }
  // Changing the passphrase changes the key this repository holds open.
  friend Result<repo::ObjectId> ChangePassphrase(Repository& repository,
                                                 std::string_view passphrase,
                                                 const codec::ScryptParams& params);
  const std::string& config_bytes() const { return config_bytes_; }

  // OK if jobs may write: always, unless the config asks for Object Lock and the transport could
  // not set it up (kNotSupported, naming both). Jobs that write new data check this first.
  Status CheckWritable() const { return writable_; }
  // The Object Lock policy of this repository's config (period 0 when it has none).
  ObjectLockPolicy object_lock_policy() const;

  // Per-thread helpers keyed for this repository.
  Result<std::unique_ptr<repo::Sealer>> NewSealer() const;
  Result<std::unique_ptr<codec::ChunkIdHasher>> NewHasher() const;

  // What to do with index entries in packs a prune is about to delete (docs/FORMAT.md §14.2).
  enum class Avoid {
    kExclude,       // Leave them out (a backup must not dedup against them).
    kPreferOthers,  // Keep one only where the chunk is in no other pack (readers).
  };
  // Rebuilds the in-memory index from every index object (what AddToIndex added is dropped; it
  // is on storage too once its backup finished). An index object replaced by a prune while this
  // runs is followed to its replacement. Errors: kCorruption naming the index.
  Status LoadIndex(const std::set<repo::ObjectId>& avoid_packs = {},
                   Avoid mode = Avoid::kPreferOthers);
  const ChunkLocation* Find(const codec::ChunkId& id) const;
  size_t index_size() const { return index_.size(); }
  void AddToIndex(const repo::IndexEntry& e);
  // Every chunk named by the index files read, by pack (for check).
  const std::unordered_map<codec::ChunkId, ChunkLocation, ChunkIdHash>& index() const {
    return index_;
  }

  // Snapshot ids, oldest first (by time, then id).
  Result<std::vector<repo::Snapshot>> ListSnapshots();
  Result<repo::Snapshot> LoadSnapshot(const repo::ObjectId& id);
  // "latest", a full id or a unique prefix. Errors: kNotFound, kInvalidArgument (ambiguous).
  Result<repo::Snapshot> ResolveSnapshot(std::string_view spec);
  // Deletes the snapshot object: the backup is gone, its data stays until a prune (issue #7)
  // removes what no snapshot uses. Errors: kIoError naming the object.
  Status ForgetSnapshot(const repo::ObjectId& id);
  // Until when the snapshot object is under Object Lock, so cannot be forgotten yet; nullopt
  // when it is not (or the repository has no Object Lock). Errors: the transport's.
  Result<std::optional<SystemTime>> SnapshotLockedUntil(const repo::ObjectId& id);

  // Reads one chunk blob at `loc`, opens, decodes and verifies it against `id`.
  // Errors: kCorruption naming the pack and chunk; kNotFound if the pack is missing.
  Status ReadChunk(const codec::ChunkId& id, const ChunkLocation& loc, repo::Sealer& sealer,
                   codec::ZstdDecompressor& dec, codec::ChunkIdHasher& hasher, std::string* out);
  // Reads the chunks `ids` — the pages of a volume's map or block hashes, which a job needs
  // before it can start — with the transport's parallelism in flight (a large volume has a page
  // per GiB; one request after another, a TiB over S3 took a minute before the first byte), each
  // verified, and calls use(i, bytes) on the fetching thread. `what(i)` names chunk i in errors.
  // Errors: kCorruption for a chunk missing from the index; the first of ReadChunk's or use's.
  using ChunkUse = std::function<Status(size_t i, std::string& bytes)>;
  Status ReadChunks(const std::vector<codec::ChunkId>& ids,
                    const std::function<std::string(size_t i)>& what, const ChunkUse& use);
  // ReadChunks for a caller that found the chunks itself (prune, which never loads the index):
  // chunk i is at `*locations[i]`.
  Status ReadChunksAt(std::span<const codec::ChunkId> ids,
                      std::span<const ChunkLocation* const> locations, const ChunkUse& use);
  // Decodes an opened blob plaintext (encoding byte + payload) of a chunk of `raw_size` bytes and
  // verifies its id. Returns the chunk's bytes: a view into `plaintext` for a raw chunk (no
  // copy), or into `*scratch` for a compressed one; valid while both live unchanged. `what`
  // names the blob in errors (kCorruption).
  static Result<ByteView> DecodeChunkPayload(std::string_view plaintext, uint32_t raw_size,
                                             const codec::ChunkId& id, codec::ZstdDecompressor& dec,
                                             codec::ChunkIdHasher& hasher, std::string* scratch,
                                             const std::string& what);
  // Like DecodeChunkPayload, but puts the chunk into `dest`, which must hold exactly `raw_size`
  // bytes: a compressed chunk is decompressed straight into it. `dest` is verified in place.
  static Status DecodeChunkInto(std::string_view plaintext, const codec::ChunkId& id,
                                codec::ZstdDecompressor& dec, codec::ChunkIdHasher& hasher,
                                MutableByteView dest, const std::string& what);
  // DecodeChunkInto without the id check, for a caller that verifies many chunks at once
  // (ChunkIdHasher::HashMany) before it lets any of them out.
  static Status DecodeChunkUnverified(std::string_view plaintext, codec::ZstdDecompressor& dec,
                                      MutableByteView dest, const std::string& what);

 private:
  Repository(std::unique_ptr<Transport> t, repo::RepoConfig c, repo::MasterKey k)
      : transport_(std::move(t)), config_(std::move(c)), key_(std::move(k)) {}
  // Writes the key file and config of a new repository (Init).
  Status WriteNew(const InitOptions& options);
  // Gets each object of `names` (a listing of objects named by their id), as many at once as
  // the transport wants in flight, and calls `use(i, id, bytes, sealer)` on the thread that
  // fetched names[i]. An object deleted since the listing sets `*vanished` instead. Stops at
  // the first error and returns it.
  using ObjectUse = std::function<Status(size_t i, const repo::ObjectId& id,
                                         const std::string& bytes, repo::Sealer& sealer)>;
  Status GetEach(const std::vector<std::string>& names, const ObjectUse& use,
                 std::atomic<bool>* vanished);

  std::unique_ptr<Transport> transport_;
  repo::RepoConfig config_;
  repo::MasterKey key_;
  repo::ObjectId key_id_;
  std::string config_bytes_;
  Status writable_;
  std::unordered_map<codec::ChunkId, ChunkLocation, ChunkIdHash> index_;
};

// Encodes a chunk for storage: encoding byte + (zstd or raw) payload, sealed with the chunk's
// associated data. Returns the blob, a view of `*out`; `*scratch` and `*out` are buffers the
// caller reuses for every chunk (they grow, never shrink). `compressor` may be null (no
// compression).
Result<ByteView> EncodeChunkBlob(const codec::ChunkId& id, ByteView data,
                                 codec::ZstdCompressor* compressor, repo::Sealer& sealer,
                                 std::string* scratch, std::string* out);

}  // namespace ferry
