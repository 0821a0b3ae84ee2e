// ChunkStore: where a backup's chunks go. Dedups each chunk against the repository index and
// the chunks this backup already stored, encodes the new ones into packs, publishes each full
// pack and, every few packs, an index naming the chunks in them.
//
// Publishing a pack (an fsync and a rename locally; a PUT of 16 MiB or more on S3) happens on
// background threads, up to `commits_in_flight` at once, so the workers go on chunking and
// compressing while earlier packs travel. An index is written only after every pack it names
// is published, so a crash never leaves an index pointing at a pack that is not there, and
// only after the gate (set_index_gate) lets it, so a backup that a prune took for dead never
// indexes packs that prune deleted.
//
// Thread-safety: StoreIfNew may be called from many threads; Flush once, after them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/repository.h"
#include "formats/codec/zstd_codec.h"
#include "formats/repo/pack.h"

namespace ferry {

// A worker's encoders (contexts are not shareable between threads).
struct EncodeCodecs {
  std::unique_ptr<repo::Sealer> sealer;
  std::unique_ptr<codec::ChunkIdHasher> hasher;
  std::unique_ptr<codec::ZstdCompressor> compressor;  // Null when compression is off.
  // Reused for every chunk this worker encodes (see EncodeChunkBlob).
  std::string scratch;
  std::string blob;

  // Compresses at `compression_level` (0: stores raw) if given, else at the repository's level.
  static Result<EncodeCodecs> Create(const Repository& repo,
                                     std::optional<int> compression_level = std::nullopt);
};

class ChunkStore {
 public:
  // `commits_in_flight`: packs being published at once (each held in memory by transports
  // that upload whole objects).
  ChunkStore(Repository& repo, unsigned index_every_packs, unsigned commits_in_flight);
  ~ChunkStore();  // Waits for publishing packs; a pack not flushed is never indexed.

  // Runs before each index object is written, with its entries; an error fails the write and
  // leaves their packs unindexed (RemoveNeverIndexed removes them). A backup checks there that its
  // lock has not gone stale under a prune (RepoLock::ValidateBeforeNaming). REQUIRES: before
  // the first StoreIfNew; thread-safe itself (workers write indexes).
  using IndexGate = std::function<Status(const std::vector<repo::IndexEntry>& entries)>;
  void set_index_gate(IndexGate gate) { index_gate_ = std::move(gate); }

  // Stores the chunk unless the repository or this backup already has it. Returns the first
  // error of a background publish once one has happened.
  Status StoreIfNew(repo::BlobType type, const codec::ChunkId& id, ByteView data, EncodeCodecs& c);

  // Publishes the pack being filled, waits for every publish, and indexes everything not yet
  // indexed.
  Status Flush(repo::Sealer& sealer);

  // Everything this backup indexed, for the caller's in-memory index once workers are done.
  std::vector<repo::IndexEntry> TakePublished();

  // For a backup that failed or was cancelled: waits for publishes in flight, then removes
  // every pack this store published that no index object names or was meant to name. Nobody
  // else can use those (their chunks are in no index), and on a full disk they are what would
  // keep the next prune from finding room for its lock. Packs of an index whose write failed
  // are left to prune: the write may have landed all the same. A pack that cannot be removed
  // is left to prune too.
  struct Removed {
    uint64_t packs = 0;
    uint64_t bytes = 0;
  };
  Removed RemoveNeverIndexed();

  uint64_t bytes_new() const { return bytes_new_; }
  uint64_t chunks_new() const { return chunks_new_; }
  uint64_t bytes_stored() const { return bytes_stored_; }

 private:
  struct OpenPack {
    repo::PackBuilder builder;
    std::unique_ptr<ObjectWriter> writer;  // Discards the pack if destroyed uncommitted.
  };

  // Seals the pack (in the caller) and hands it to a background publish.
  Status Publish(std::unique_ptr<OpenPack> pack, repo::Sealer& sealer);
  void CommitInBackground(std::unique_ptr<OpenPack> pack);
  void WaitForCommits();
  Status CommitError();
  // Writes an index of the published, unindexed chunks if enough packs have gathered (or,
  // with `all`, whatever there is).
  Status WriteIndexIfDue(repo::Sealer& sealer, bool all);

  Repository& repo_;
  const unsigned index_every_packs_;
  IndexGate index_gate_;
  const unsigned commits_in_flight_;
  std::mutex dedup_mu_;
  std::unordered_set<codec::ChunkId, ChunkIdHash> seen_;  // GUARDED_BY(dedup_mu_)
  std::mutex pack_mu_;
  std::unique_ptr<OpenPack> current_;  // GUARDED_BY(pack_mu_)
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  unsigned committing_ = 0;               // GUARDED_BY(commit_mu_)
  Status commit_error_;                   // GUARDED_BY(commit_mu_)
  std::list<std::future<void>> commits_;  // GUARDED_BY(commit_mu_)
  std::mutex index_mu_;
  std::vector<repo::IndexEntry> unindexed_;  // GUARDED_BY(index_mu_): in published packs.
  std::vector<repo::IndexEntry> published_;  // GUARDED_BY(index_mu_)
  unsigned packs_since_index_ = 0;           // GUARDED_BY(index_mu_)
  // Published packs (and their sizes) that no index write has named yet.
  std::map<repo::ObjectId, uint64_t> never_indexed_;  // GUARDED_BY(index_mu_)
  std::atomic<uint64_t> bytes_new_{0};
  std::atomic<uint64_t> chunks_new_{0};
  std::atomic<uint64_t> bytes_stored_{0};
};

}  // namespace ferry
