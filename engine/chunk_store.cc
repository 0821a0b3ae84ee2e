#include "engine/chunk_store.h"

namespace ferry {

Result<EncodeCodecs> EncodeCodecs::Create(const Repository& repo,
                                          std::optional<int> compression_level) {
  EncodeCodecs c;
  FERRY_ASSIGN_OR_RETURN(c.sealer, repo.NewSealer());
  FERRY_ASSIGN_OR_RETURN(c.hasher, repo.NewHasher());
  const int level = compression_level.value_or(repo.config().compression_level);
  if (level > 0) {
    FERRY_ASSIGN_OR_RETURN(c.compressor, codec::ZstdCompressor::Create(level));
  }
  return c;
}

ChunkStore::ChunkStore(Repository& repo, unsigned index_every_packs, unsigned commits_in_flight)
    : repo_(repo),
      index_every_packs_(std::max(index_every_packs, 1u)),
      commits_in_flight_(std::max(commits_in_flight, 1u)) {}

ChunkStore::~ChunkStore() { WaitForCommits(); }

Status ChunkStore::StoreIfNew(repo::BlobType type, const codec::ChunkId& id, ByteView data,
                              EncodeCodecs& c) {
  {
    std::lock_guard lock(dedup_mu_);
    if (repo_.Find(id) != nullptr || !seen_.insert(id).second) return Status();
  }
  chunks_new_.fetch_add(1, std::memory_order_relaxed);
  bytes_new_.fetch_add(data.size(), std::memory_order_relaxed);
  FERRY_ASSIGN_OR_RETURN(
      ByteView blob, EncodeChunkBlob(id, data, c.compressor.get(), *c.sealer, &c.scratch, &c.blob));
  std::unique_ptr<OpenPack> full;
  {
    // Blobs are appended to the pack object as they come (a write to the page cache, or to
    // the upload buffer: brief under the lock).
    std::lock_guard lock(pack_mu_);
    if (current_ == nullptr) {
      FERRY_ASSIGN_OR_RETURN(repo::ObjectId pack_id, repo::NewObjectId());
      // A pack ends with the chunk that takes it past pack_size, then its header: a few MiB
      // over at most.
      FERRY_ASSIGN_OR_RETURN(
          auto writer,
          repo_.transport().Create(repo::PackName(pack_id), repo_.config().pack_size + (4u << 20)));
      current_ =
          std::make_unique<OpenPack>(OpenPack{repo::PackBuilder(pack_id), std::move(writer)});
    }
    FERRY_RETURN_IF_ERROR(current_->writer->Append(blob));
    current_->builder.Add(type, id, static_cast<uint32_t>(blob.size()),
                          static_cast<uint32_t>(data.size()));
    if (current_->builder.size() >= repo_.config().pack_size) full = std::move(current_);
  }
  if (full != nullptr) {
    FERRY_RETURN_IF_ERROR(Publish(std::move(full), *c.sealer));
    return WriteIndexIfDue(*c.sealer, false);
  }
  return Status();
}

Status ChunkStore::Flush(repo::Sealer& sealer) {
  std::unique_ptr<OpenPack> last;
  {
    std::lock_guard lock(pack_mu_);
    last = std::move(current_);
  }
  if (last != nullptr && last->builder.count() > 0) {
    FERRY_RETURN_IF_ERROR(Publish(std::move(last), sealer));
  }
  WaitForCommits();
  FERRY_RETURN_IF_ERROR(CommitError());
  return WriteIndexIfDue(sealer, true);
}

std::vector<repo::IndexEntry> ChunkStore::TakePublished() {
  std::lock_guard lock(index_mu_);
  return std::move(published_);
}

ChunkStore::Removed ChunkStore::RemoveNeverIndexed() {
  {
    std::lock_guard lock(pack_mu_);
    current_.reset();  // Its writer discards what it wrote.
  }
  WaitForCommits();
  std::map<repo::ObjectId, uint64_t> packs;
  {
    std::lock_guard lock(index_mu_);
    packs.swap(never_indexed_);
    unindexed_.clear();
  }
  Removed removed;
  for (const auto& [id, size] : packs) {
    // (Gone already is no error: a prune may have taken it for a leftover.)
    if (!repo_.transport().Remove(repo::PackName(id)).ok()) continue;
    ++removed.packs;
    removed.bytes += size;
  }
  return removed;
}

Status ChunkStore::Publish(std::unique_ptr<OpenPack> pack, repo::Sealer& sealer) {
  FERRY_RETURN_IF_ERROR(CommitError());
  FERRY_ASSIGN_OR_RETURN(std::string tail, pack->builder.Finish(sealer));
  FERRY_RETURN_IF_ERROR(pack->writer->Append(AsBytes(tail)));
  CommitInBackground(std::move(pack));
  return Status();
}

void ChunkStore::CommitInBackground(std::unique_ptr<OpenPack> pack) {
  std::unique_lock lock(commit_mu_);
  commit_cv_.wait(lock, [&] { return committing_ < commits_in_flight_; });
  ++committing_;
  // Finished publishes are reaped here, so the list stays as short as the limit.
  commits_.remove_if([](const std::future<void>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  });
  commits_.push_back(std::async(std::launch::async, [this, p = std::move(pack)]() mutable {
    Status s = p->writer->Commit();
    if (s.ok()) {
      bytes_stored_.fetch_add(p->writer->size(), std::memory_order_relaxed);
      std::lock_guard index_lock(index_mu_);
      const repo::ObjectId id = p->builder.id();
      never_indexed_.emplace(id, p->writer->size());
      for (const auto& e : p->builder.entries()) {
        unindexed_.push_back({e.id, id, e.type, e.offset, e.stored_size, e.raw_size});
      }
      ++packs_since_index_;
    }
    p.reset();  // Now, not when the future is reaped: the writer may hold the pack's bytes.
    std::lock_guard commit_lock(commit_mu_);
    if (!s.ok() && commit_error_.ok()) commit_error_ = s;
    --committing_;
    commit_cv_.notify_all();
  }));
}

void ChunkStore::WaitForCommits() {
  std::unique_lock lock(commit_mu_);
  commit_cv_.wait(lock, [&] { return committing_ == 0; });
  commits_.clear();  // All ready: their threads have finished.
}

Status ChunkStore::CommitError() {
  std::lock_guard lock(commit_mu_);
  return commit_error_;
}

Status ChunkStore::WriteIndexIfDue(repo::Sealer& sealer, bool all) {
  std::vector<repo::IndexEntry> entries;
  {
    std::lock_guard lock(index_mu_);
    if (unindexed_.empty() || (!all && packs_since_index_ < index_every_packs_)) return Status();
    entries = std::move(unindexed_);
    unindexed_.clear();
    packs_since_index_ = 0;
  }
  // A gate that refuses means no index names these packs: they stay removable on failure. Past
  // it, the index write may land even if it reports failure, so they leave the list first.
  if (index_gate_) FERRY_RETURN_IF_ERROR(index_gate_(entries));
  {
    std::lock_guard lock(index_mu_);
    for (const repo::IndexEntry& e : entries) never_indexed_.erase(e.pack);
  }
  FERRY_ASSIGN_OR_RETURN(repo::ObjectId index_id, repo::NewObjectId());
  FERRY_ASSIGN_OR_RETURN(std::string sealed, repo::EncodeIndex(sealer, index_id, entries));
  FERRY_RETURN_IF_ERROR(repo_.transport().Put("index/" + index_id.ToHex(), AsBytes(sealed)));
  std::lock_guard lock(index_mu_);
  published_.insert(published_.end(), entries.begin(), entries.end());
  return Status();
}

}  // namespace ferry
