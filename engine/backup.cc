#include "engine/backup.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "common/file_io.h"
#include "common/origin.h"

#include "cbt/allocation.h"
#include "chunker/chunker.h"
#include "engine/block_hasher.h"
#include "engine/bounded_queue.h"
#include "engine/chunk_assembler.h"
#include "engine/chunk_store.h"
#include "engine/fan_out.h"
#include "engine/guest_copy.h"
#include "engine/repo_lock.h"
#include "engine/restore.h"
#include "engine/resync_plan.h"
#include "formats/repo/block_hashes.h"
#include "formats/repo/pack.h"
#include "formats/repo/volume_map.h"
#include "transports/nbd/nbd_client.h"

namespace ferry {

namespace {

using repo::BlobType;
using repo::Extent;
using repo::ExtentKind;

using Codecs = EncodeCodecs;

// Records the first error of any thread; the others see failed() and stop.
class FirstError {
 public:
  void Set(const Status& s) {
    if (s.ok()) return;
    std::lock_guard lock(mu_);
    if (status_.ok()) status_ = s;
    failed_.store(true, std::memory_order_relaxed);
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  Status status_;
  std::atomic<bool> failed_{false};
};

// The share of the memory budget that goes to read-ahead: an eighth, 2 to 8 buffers of 1 MiB.
size_t ReaderBytes(size_t memory_bytes) {
  return std::clamp<size_t>(memory_bytes / 8 >> 20, 2, 8) << 20;
}

// Adds hole extents over [from, to), cut at page boundaries (extents start within one page and
// their lengths fit 32 bits).
void AddHoles(uint64_t from, uint64_t to, uint64_t page_size, std::vector<Extent>* out) {
  while (from < to) {
    const uint64_t page_end = (from / page_size + 1) * page_size;
    const uint64_t end = std::min(to, page_end);
    out->push_back({from, static_cast<uint32_t>(end - from), ExtentKind::kHole, {}});
    from = end;
  }
}

// Reads, chunks and stores one volume; returns its map.
class VolumeBackup {
 public:
  VolumeBackup(Repository& repo, ChunkStore& store, const BackupOptions& options,
               VolumeSource& source, FirstError& error, std::atomic<uint64_t>& bytes_read)
      : repo_(repo),
        store_(store),
        options_(options),
        source_(source),
        error_(error),
        bytes_read_(bytes_read) {}

  // Makes this an incremental backup from `parent` (the parent's map and block hashes of
  // `hash_block_size`, if it has them) and `changes` (or a hash diff).
  void SetIncremental(std::vector<Extent> parent, std::vector<uint64_t> parent_hashes,
                      uint32_t hash_block_size, const IncrementalSource& source,
                      repo::IncrementalInfo info) {
    parent_ = std::move(parent);
    parent_hashes_ = std::move(parent_hashes);
    if (!parent_hashes_.empty() && hash_block_size != kHashBlock) parent_hashes_.clear();
    changes_ = source.changes.ranges;
    hash_diff_ = source.hash_diff;
    untrusted_ = source.untrusted;
    info_ = std::move(info);
  }
  // The volume's block hashes (after Run); empty if they could not be computed.
  const std::vector<uint64_t>& block_hashes() const { return hashes_; }
  static constexpr uint32_t kHashBlock = repo::kDefaultHashBlockSize;
  // --cbt-verify's reads in flight: its sample is random reads, each a blocking call.
  static constexpr size_t kVerifyReaders = 8;
  // Things to tell the user (after Run).
  const std::vector<std::string>& notes() const { return notes_; }
  // How the incremental went (after Run), if this is one.
  const std::optional<repo::IncrementalInfo>& incremental_info() const { return info_; }
  // The zstd level of the chunks this volume stores: the backup's, else the repository's for
  // backups with a parent (even one that falls back to a full read: what it stores is still
  // only what changed) or without.
  int CompressionLevel() const {
    const repo::RepoConfig& config = repo_.config();
    return options_.compression_level.value_or(info_ ? config.IncrementalCompressionLevel()
                                                     : config.compression_level);
  }

  Result<std::vector<Extent>> Run(unsigned threads, const std::function<void()>& tick) {
    FERRY_ASSIGN_OR_RETURN(chunker_, chunker::MakeChunker(repo_.config().chunker));
    cbt::ExtentList ranges;
    if (!source_.is_pipe()) {
      FERRY_ASSIGN_OR_RETURN(ranges, source_.DataRanges());
      source_.SetRanges(ranges);
    }
    std::optional<ResyncPlan> plan;
    bool incremental = info_.has_value();
    if (incremental && !untrusted_.empty()) {
      notes_.push_back(fmt::format("{}: not trusted, so {} was read in full: {}", info_->cbt,
                                   source_.path(), untrusted_));
      info_->fell_back = true;
      incremental = false;
    }
    if (incremental && hash_diff_) {
      if (parent_hashes_.empty()) {
        notes_.push_back(
            fmt::format("the parent of {} has no block hashes to compare with: reading it in full",
                        source_.path()));
        incremental = false;
      } else {
        FERRY_ASSIGN_OR_RETURN(changes_, HashDiff(ranges));
        info_->changed_bytes = cbt::TotalBytes(changes_);
      }
    }
    if (incremental) {
      cbt::ExtentList dirty = changes_;
      const cbt::ExtentList moved = AllocationChanges(parent_, ranges);
      dirty.insert(dirty.end(), moved.begin(), moved.end());
      plan.emplace(std::move(parent_), cbt::Normalize(std::move(dirty)));
      seen_.emplace(kHashBlock, source_.size());
      if (options_.cbt_verify_percent > 0) {
        FERRY_ASSIGN_OR_RETURN(bool trusted, VerifyUnchanged(*plan, ranges));
        if (!trusted) {
          info_->fell_back = true;
          plan.reset();
        }
      }
      // Whole hash blocks, so that the changed blocks' hashes come from the bytes read anyway.
      if (plan) source_.SetRanges(plan->ReadRanges(ranges, kHashBlock));
    }
    const size_t queue_bytes = options_.memory_bytes - ReaderBytes(options_.memory_bytes);
    BoundedQueue<ChunkJob> queue(std::max<size_t>(threads * 2, queue_bytes / MaxChunk()));
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < threads; ++i) workers.emplace_back([&] { Work(queue); });

    Status read_status = plan ? ReadIncremental(*plan, ranges, queue, tick) : ReadAll(queue, tick);
    queue.Close();
    for (auto& w : workers) w.join();
    error_.Set(read_status);
    if (error_.failed()) return Err(error_.status());
    // A hash diff has them already; else from the parent's and what was read (an incremental)
    // or from everything read (a full read, also when an incremental fell back to one).
    if (hashes_.empty()) {
      if (plan) {
        FERRY_ASSIGN_OR_RETURN(hashes_, UpdatedHashes(*plan));
      } else {
        hashes_ = block_hasher_.Finish(size_);
      }
    }

    std::vector<Extent> extents = std::move(extents_);
    extents.insert(extents.end(), reused_.begin(), reused_.end());
    std::sort(extents.begin(), extents.end(),
              [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
    // Holes: everything the ranges did not cover.
    std::vector<Extent> holes;
    uint64_t at = 0;
    for (const auto& r : ranges) {
      AddHoles(at, r.offset, repo::kDefaultPageSize, &holes);
      at = r.end();
    }
    if (!source_.is_pipe()) AddHoles(at, source_.size(), repo::kDefaultPageSize, &holes);
    extents.insert(extents.end(), holes.begin(), holes.end());
    std::sort(extents.begin(), extents.end(),
              [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
    return extents;
  }

  uint64_t size() const { return size_; }
  uint64_t chunks() const { return chunks_; }

 private:
  size_t MaxChunk() const {
    const chunker::Params& p = repo_.config().chunker;
    return p.algorithm == chunker::Algorithm::kFixed ? p.avg_size : p.max_size;
  }

  Status ReadAll(BoundedQueue<ChunkJob>& queue, const std::function<void()>& tick) {
    std::vector<uint64_t> cuts;
    ChunkAssembler assembler(MaxChunk());
    uint64_t next_offset = 0;  // Where the current range continues.
    bool in_range = false;

    auto emit = [&](uint64_t cut) -> bool {
      ++chunks_;
      return queue.Push(assembler.Cut(cut));
    };
    auto finish_range = [&]() -> bool {
      cuts.clear();
      chunker_->Finish(&cuts);
      for (uint64_t cut : cuts) {
        if (!emit(cut)) return false;
      }
      return true;
    };

    for (;;) {
      if (options_.cancel != nullptr && options_.cancel->cancelled()) {
        return Status::Cancelled("backup of " + source_.path() + " was cancelled");
      }
      if (error_.failed()) return Status();
      FERRY_ASSIGN_OR_RETURN(SourceBuffer b, source_.NextBuffer());
      if (b.data.empty()) break;
      if (!in_range || b.offset != next_offset) {
        if (in_range && !finish_range()) return Status();
        chunker_->Reset(b.offset);
        assembler.Reset(b.offset);
        in_range = true;
      }
      block_hasher_.Feed(b.offset, b.data);
      cuts.clear();
      chunker_->Update(b.data, &cuts);
      assembler.BeginBuffer(b.data);
      for (uint64_t cut : cuts) {
        if (!emit(cut)) return Status();
      }
      assembler.EndBuffer();
      next_offset = b.offset + b.data.size();
      bytes_read_.fetch_add(b.data.size(), std::memory_order_relaxed);
      tick();
    }
    if (in_range && !finish_range()) return Status();
    size_ = source_.is_pipe() ? next_offset : source_.size();
    return Status();
  }

  // Reads exactly `out.size()` bytes at `offset` of the source, counting them as read.
  Status ReadCounted(MutableByteView out, uint64_t offset) {
    FERRY_RETURN_IF_ERROR(source_.ReadAt(out, offset));
    bytes_read_.fetch_add(out.size(), std::memory_order_relaxed);
    return Status();
  }

  // Hash diff: reads the allocated ranges, hashes every block, and returns the blocks whose
  // hashes differ from the parent's as changed ranges. Its hashes become this backup's.
  Result<cbt::ExtentList> HashDiff(const cbt::ExtentList& ranges) {
    FERRY_ASSIGN_OR_RETURN(auto pass, source_.OpenAgain());
    pass->SetRanges(ranges);
    BlockHasher hasher(kHashBlock);
    for (;;) {
      if (options_.cancel != nullptr && options_.cancel->cancelled()) {
        return Err(Status::Cancelled("backup of " + source_.path() + " was cancelled"));
      }
      FERRY_ASSIGN_OR_RETURN(SourceBuffer b, pass->NextBuffer());
      if (b.data.empty()) break;
      hasher.Feed(b.offset, b.data);
      bytes_read_.fetch_add(b.data.size(), std::memory_order_relaxed);
    }
    hashes_ = hasher.Finish(source_.size());
    cbt::ExtentList changed;
    for (uint64_t i = 0; i < hashes_.size(); ++i) {
      if (i < parent_hashes_.size() && parent_hashes_[i] == hashes_[i]) continue;
      const uint64_t begin = i * kHashBlock;
      changed.push_back({begin, std::min<uint64_t>(kHashBlock, source_.size() - begin)});
    }
    return cbt::Normalize(std::move(changed));
  }

  // After a CBT incremental: the parent's block hashes, with every block that may have changed
  // (or that the parent did not have whole) hashed again from the source.
  Result<std::vector<uint64_t>> UpdatedHashes(const ResyncPlan& plan) {
    if (parent_hashes_.empty()) return std::vector<uint64_t>{};
    const uint64_t size = source_.size();
    const uint64_t blocks = (size + kHashBlock - 1) / kHashBlock;
    uint64_t parent_size = 0;
    if (!plan.parent().empty())
      parent_size = plan.parent().back().offset + plan.parent().back().length;
    std::vector<uint64_t> out(blocks);
    std::string buf;
    for (uint64_t i = 0; i < blocks; ++i) {
      const uint64_t begin = i * kHashBlock;
      const uint64_t end = std::min<uint64_t>(begin + kHashBlock, size);
      // Kept only if the block is the same length as in the parent and nothing in it changed.
      if (i < parent_hashes_.size() &&
          end - begin == std::min<uint64_t>(kHashBlock, parent_size - begin) &&
          plan.Clean(begin, end)) {
        out[i] = parent_hashes_[i];
        continue;
      }
      if (std::optional<uint64_t> seen = seen_->Find(i)) {
        out[i] = *seen;  // Hashed as it was read.
        continue;
      }
      buf.resize(end - begin);
      FERRY_RETURN_IF_ERROR(ReadCounted(AsWritableBytes(buf), begin));
      out[i] = BlockHasher::HashBlock(AsBytes(buf));
    }
    return out;
  }

  // --cbt-verify: re-reads a random sample of the parent chunks the change source calls
  // unchanged and compares them with their ids, kVerifyReaders reads in flight. False on any
  // mismatch.
  Result<bool> VerifyUnchanged(const ResyncPlan& plan, const cbt::ExtentList& ranges) {
    // Parent chunks still allocated (inside one of the new ranges) that the source calls clean.
    std::vector<const Extent*> candidates;
    auto range = ranges.begin();
    for (const Extent& e : plan.parent()) {
      while (range != ranges.end() && range->end() <= e.offset) ++range;
      if (range == ranges.end()) break;
      if (e.kind == ExtentKind::kHole || e.offset < range->offset ||
          e.offset + e.length > range->end() || !plan.Clean(e.offset, e.offset + e.length)) {
        continue;
      }
      candidates.push_back(&e);
    }
    std::mt19937_64 rng(std::random_device{}());
    std::shuffle(candidates.begin(), candidates.end(), rng);
    const double share = std::min(options_.cbt_verify_percent, 100.0) / 100.0;
    const size_t take =
        static_cast<size_t>(std::ceil(static_cast<double>(candidates.size()) * share));
    // The sample in volume order: the reads in flight together lie near each other.
    if (take == 0) return true;
    std::sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(take),
              [](const Extent* a, const Extent* b) { return a->offset < b->offset; });

    struct Verifier {
      GuestReadFn read;
      std::unique_ptr<codec::ChunkIdHasher> hasher;
      std::string buf;
    };
    std::atomic<uint64_t> verified{0}, mismatches{0};
    auto produce = [&](const std::function<bool(const Extent*)>& push) -> Status {
      for (size_t i = 0; i < take; ++i) {
        if (options_.cancel != nullptr && options_.cancel->cancelled()) {
          return Status::Cancelled("backup of " + source_.path() + " was cancelled");
        }
        if (!push(candidates[i])) break;
      }
      return Status();
    };
    const GuestReaderFactory readers = SourceReaders(source_);
    auto open = [&]() -> Result<Verifier> {
      Verifier v;
      FERRY_ASSIGN_OR_RETURN(v.read, readers());
      FERRY_ASSIGN_OR_RETURN(v.hasher, repo_.NewHasher());
      return v;
    };
    auto consume = [&](Verifier& v, const Extent*& extent) -> Status {
      const Extent& e = *extent;
      v.buf.resize(e.length);
      FERRY_RETURN_IF_ERROR(v.read(AsWritableBytes(v.buf), e.offset));
      bytes_read_.fetch_add(e.length, std::memory_order_relaxed);
      verified += e.length;
      const bool same = e.kind == ExtentKind::kZeros ? IsAllZero(AsBytes(v.buf))
                                                     : v.hasher->Hash(AsBytes(v.buf)) == e.id;
      if (!same) ++mismatches;
      return Status();
    };
    FERRY_RETURN_IF_ERROR((FanOut<const Extent*, Verifier>(
        static_cast<unsigned>(std::min<size_t>(kVerifyReaders, take)), produce, open, consume)));
    info_->verified_bytes += verified;
    info_->mismatches += mismatches;
    return info_->mismatches == 0;
  }

  // Bytes of the source from `offset` (at most to `end`): from the planned read-ahead when it
  // covers them, else read directly. The view lives until the next call.
  Result<ByteView> BytesAt(uint64_t offset, uint64_t end) {
    for (;;) {
      const uint64_t cur_end = current_.offset + current_.data.size();
      if (!current_.data.empty() && current_.offset <= offset && offset < cur_end) {
        return current_.data.subspan(offset - current_.offset, std::min(cur_end, end) - offset);
      }
      if (reader_done_ || (!current_.data.empty() && current_.offset > offset)) break;
      FERRY_ASSIGN_OR_RETURN(current_, source_.NextBuffer());
      if (current_.data.empty()) {
        reader_done_ = true;
      } else {
        bytes_read_.fetch_add(current_.data.size(), std::memory_order_relaxed);
        seen_->Feed(current_.offset, current_.data);
      }
    }
    // Not planned (the chain did not resynchronise where expected): read on directly, a chunk's
    // worth at most, since the next parent cut is usually near.
    const uint64_t step = std::max<uint64_t>(repo_.config().chunker.max_size, 64u << 10);
    const size_t len = static_cast<size_t>(std::min<uint64_t>(end - offset, step));
    extra_.resize(len);
    FERRY_RETURN_IF_ERROR(ReadCounted(AsWritableBytes(extra_), offset));
    const ByteView extra(reinterpret_cast<const std::byte*>(extra_.data()), len);
    seen_->Feed(offset, extra);
    return extra;
  }

  // Walks each allocated range's chunk chain: parent chunks where the plan allows, re-chunking
  // from the last cut elsewhere until the chain lands on a parent cut it may take again.
  Status ReadIncremental(const ResyncPlan& plan, const cbt::ExtentList& ranges,
                         BoundedQueue<ChunkJob>& queue, const std::function<void()>& tick) {
    std::vector<uint64_t> cuts;
    ChunkAssembler assembler(MaxChunk());
    for (const cbt::ByteRange& r : ranges) {
      uint64_t pos = r.offset;
      while (pos < r.end()) {
        if (options_.cancel != nullptr && options_.cancel->cancelled()) {
          return Status::Cancelled("backup of " + source_.path() + " was cancelled");
        }
        if (error_.failed()) return Status();
        if (const Extent* e = plan.Reusable(pos, r.end())) {
          reused_.push_back(*e);
          ++chunks_;
          pos = e->offset + e->length;
          continue;
        }
        // Re-chunk from pos until resynchronised or the range ends.
        chunker_->Reset(pos);
        assembler.Reset(pos);
        uint64_t fed = pos;
        bool synced = false;
        auto emit = [&](uint64_t cut) -> bool {
          ++chunks_;
          return queue.Push(assembler.Cut(cut));
        };
        while (!synced && fed < r.end()) {
          FERRY_ASSIGN_OR_RETURN(ByteView view, BytesAt(fed, r.end()));
          cuts.clear();
          chunker_->Update(view, &cuts);
          assembler.BeginBuffer(view);
          fed += view.size();
          for (uint64_t cut : cuts) {
            if (!emit(cut)) return Status();
            if (cut < r.end() && plan.Reusable(cut, r.end()) != nullptr) {
              synced = true;  // The rest of the view is the parent's chunk from here on.
              pos = cut;
              break;
            }
          }
          if (!synced) assembler.EndBuffer();
          tick();
        }
        if (!synced) {
          cuts.clear();
          chunker_->Finish(&cuts);
          for (uint64_t cut : cuts) {
            if (!emit(cut)) return Status();
          }
          pos = r.end();
        }
      }
    }
    size_ = source_.size();
    return Status();
  }

  void Work(BoundedQueue<ChunkJob>& queue) {
    auto codecs = Codecs::Create(repo_, CompressionLevel());
    if (!codecs) {
      error_.Set(codecs.error());
      queue.Close();
      return;
    }
    std::vector<Extent> local;
    // Up to two chunks at a time, so their ids are hashed together (HashMany): a second one is
    // taken only if it is already queued, never waited for.
    std::vector<ChunkJob> jobs;
    ByteView data[2];     // The chunks of `jobs` that are not all zeros...
    uint64_t offsets[2];  // ...and where they are.
    codec::ChunkId ids[2];
    while (auto job = queue.Pop()) {
      if (error_.failed()) continue;  // Drain so the reader never blocks forever.
      jobs.clear();
      jobs.push_back(std::move(*job));
      if (auto second = queue.TryPop()) jobs.push_back(std::move(*second));
      size_t n = 0;
      for (const ChunkJob& j : jobs) {
        const ByteView bytes = AsBytes(j.data);
        if (IsAllZero(bytes)) {
          local.push_back({j.offset, static_cast<uint32_t>(bytes.size()), ExtentKind::kZeros, {}});
        } else {
          data[n] = bytes;
          offsets[n++] = j.offset;
        }
      }
      codecs->hasher->HashMany({data, n}, {ids, n});
      for (size_t k = 0; k < n; ++k) {
        Status s = store_.StoreIfNew(BlobType::kData, ids[k], data[k], *codecs);
        if (!s.ok()) {
          error_.Set(s);
          queue.Close();
          break;
        }
        local.push_back(
            {offsets[k], static_cast<uint32_t>(data[k].size()), ExtentKind::kChunk, ids[k]});
      }
    }
    std::lock_guard lock(extents_mu_);
    extents_.insert(extents_.end(), local.begin(), local.end());
  }

  Repository& repo_;
  ChunkStore& store_;
  const BackupOptions& options_;
  VolumeSource& source_;
  FirstError& error_;
  std::atomic<uint64_t>& bytes_read_;
  std::unique_ptr<chunker::Chunker> chunker_;
  std::mutex extents_mu_;
  std::vector<Extent> extents_;  // GUARDED_BY(extents_mu_)
  uint64_t size_ = 0;
  uint64_t chunks_ = 0;
  // Incremental backups (reader thread only).
  std::vector<Extent> parent_;
  std::vector<uint64_t> parent_hashes_;
  bool hash_diff_ = false;
  std::string untrusted_;
  BlockHasher block_hasher_{kHashBlock};
  std::vector<uint64_t> hashes_;
  std::vector<std::string> notes_;
  cbt::ExtentList changes_;
  std::optional<repo::IncrementalInfo> info_;
  std::vector<Extent> reused_;
  SourceBuffer current_;
  bool reader_done_ = false;
  std::string extra_;
  std::optional<SeenBlockHashes> seen_;  // Blocks an incremental read whole.
};

// Encodes the map of a volume into pages, stores each page as a chunk, returns the page list.
Result<std::vector<repo::MapPageRef>> StoreMap(const std::vector<Extent>& extents,
                                               uint64_t page_size, ChunkStore& store, Codecs& c) {
  std::vector<repo::MapPageRef> pages;
  size_t i = 0;
  while (i < extents.size()) {
    const uint64_t page = extents[i].offset / page_size;
    std::vector<Extent> in_page;
    while (i < extents.size() && extents[i].offset / page_size == page)
      in_page.push_back(extents[i++]);
    const std::string bytes = repo::EncodeMapPage(in_page);
    const codec::ChunkId id = c.hasher->Hash(AsBytes(bytes));
    FERRY_RETURN_IF_ERROR(store.StoreIfNew(BlobType::kMapPage, id, AsBytes(bytes), c));
    pages.push_back({in_page.front().offset, id});
  }
  return pages;
}

// Stores a volume's block hashes in pages, as chunks; returns the page ids.
Result<std::vector<codec::ChunkId>> StoreBlockHashes(const std::vector<uint64_t>& hashes,
                                                     uint32_t block_size, ChunkStore& store,
                                                     Codecs& c) {
  std::vector<codec::ChunkId> pages;
  for (size_t first = 0; first < hashes.size(); first += repo::kHashesPerPage) {
    const size_t n = std::min<size_t>(repo::kHashesPerPage, hashes.size() - first);
    const std::string bytes = repo::EncodeBlockHashPage(
        block_size, first, std::span<const uint64_t>(hashes).subspan(first, n));
    const codec::ChunkId id = c.hasher->Hash(AsBytes(bytes));
    FERRY_RETURN_IF_ERROR(store.StoreIfNew(BlobType::kMapPage, id, AsBytes(bytes), c));
    pages.push_back(id);
  }
  return pages;
}

}  // namespace

std::string VolumeName(const BackupSource& source) {
  if (!source.name.empty()) return source.name;
  if (source.path == "-") return "stdin";
  if (nbd::IsNbdUri(source.path)) {
    // The export name: what follows the authority, up to the query.
    const size_t scheme = source.path.find("://") + 3;
    const size_t slash = source.path.find('/', scheme);
    const size_t query = source.path.find('?');
    std::string name =
        slash == std::string::npos
            ? ""
            : source.path.substr(
                  slash + 1, query == std::string::npos ? std::string::npos : query - slash - 1);
    return name.empty() ? "nbd" : name;
  }
  return std::filesystem::path(source.path).filename().string();
}

Status DistinctVolumeNames::Add(const std::string& path, const std::string& volume) {
  auto [it, added] = path_of_.try_emplace(volume, path);
  if (added) return Status();
  return Status::InvalidArgument(fmt::format(
      "{} and {} would both be volume '{}': a snapshot's volumes need names of their own (back "
      "them up one at a time with --name)",
      it->second, path, volume));
}

namespace {

// The packs holding the chunks `snap` uses (its maps read back), for the rare re-validation of
// a backup whose lock may have gone stale.
Result<std::set<repo::ObjectId>> PacksUsedBy(Repository& repository, const repo::Snapshot& snap) {
  std::set<repo::ObjectId> packs;
  auto use = [&](const codec::ChunkId& id) {
    if (const ChunkLocation* loc = repository.Find(id)) packs.insert(loc->pack);
  };
  for (const repo::SnapshotVolume& vol : snap.volumes) {
    for (const auto& page : vol.pages) use(page.id);
    for (const auto& page : vol.hash_pages) use(page);
    FERRY_ASSIGN_OR_RETURN(auto extents, LoadVolumeMap(repository, vol));
    for (const Extent& e : extents) {
      if (e.kind == ExtentKind::kChunk) use(e.id);
    }
  }
  return packs;
}

}  // namespace

Result<BackupResult> Backup(Repository& repository, const std::vector<BackupSource>& sources,
                            const BackupOptions& options) {
  if (sources.empty()) return Err(Status::InvalidArgument("nothing to back up"));
  DistinctVolumeNames names;
  for (const BackupSource& source : sources) {
    FERRY_RETURN_IF_ERROR(names.Add(source.path, VolumeName(source)));
  }
  FERRY_RETURN_IF_ERROR(repository.CheckWritable());
  const auto start = std::chrono::steady_clock::now();
  const unsigned threads =
      options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  if (options.memory_bytes < (16u << 20)) {
    return Err(Status::InvalidArgument("the memory bound must be at least 16 MiB"));
  }
  if (options.compression_level) {
    FERRY_RETURN_IF_ERROR(
        repo::ValidateCompressionLevel(*options.compression_level, "compression level"));
  }
  VolumeSourceOptions source_options;
  source_options.reader.backend = options.io_backend;
  source_options.reader.buffers = static_cast<unsigned>(ReaderBytes(options.memory_bytes) >> 20);
  source_options.cancel = options.cancel;

  // Announce the backup before reading the index, and leave out packs a prune is deleting
  // (docs/FORMAT.md §14.2): nothing is deduplicated against them.
  FERRY_ASSIGN_OR_RETURN(
      auto lock, RepoLock::Acquire(repository, repo::LockKind::kBackup, options.lock_timing));
  FERRY_RETURN_IF_ERROR(repository.LoadIndex(lock->candidate_packs(), Repository::Avoid::kExclude));
  BackupResult result;

  // Open every source first: a missing one fails the backup before anything is written.
  std::vector<std::unique_ptr<VolumeSource>> readers;
  uint64_t total = 0;
  std::vector<std::vector<Extent>> parent_maps(sources.size());
  std::vector<std::vector<uint64_t>> parent_hashes(sources.size());
  std::vector<uint32_t> parent_hash_block(sources.size(), 0);
  std::vector<bool> full_read(sources.size(), false);
  for (size_t i = 0; i < sources.size(); ++i) {
    const BackupSource& s = sources[i];
    VolumeSourceOptions o = source_options;
    o.format = s.format;
    FERRY_ASSIGN_OR_RETURN(auto r, VolumeSource::Open(s.path, o));
    total += r->size();
    if (const auto& inc = s.incremental) {
      // Everything about the change source is checked before anything is written.
      if (r->is_pipe()) {
        return Err(Status::InvalidArgument(
            s.path + ": an incremental backup needs a file or block device, not a pipe"));
      }
      FERRY_RETURN_IF_ERROR(cbt::ValidateForVolume(inc->changes, r->size(), inc->cbt));
      const repo::SnapshotVolume* parent = nullptr;
      for (const auto& v : inc->parent.volumes) {
        if (v.name == inc->parent_volume) parent = &v;
      }
      if (parent == nullptr) {
        return Err(
            Status::NotFound(fmt::format("snapshot {} has no volume '{}' to be the parent",
                                         inc->parent.id.ToHex().substr(0, 8), inc->parent_volume)));
      }
      // The block hashes are read beside the map: over a network, a round trip fewer.
      auto hashes = std::async(std::launch::async, [&repository, parent] {
        return LoadBlockHashes(repository, *parent);
      });
      FERRY_ASSIGN_OR_RETURN(parent_maps[i], LoadVolumeMap(repository, *parent));
      // Parent chunks are taken without reading; one that is in no pack this backup may use
      // (a prune is deleting it) makes the volume a full read instead.
      const bool parent_usable =
          std::all_of(parent_maps[i].begin(), parent_maps[i].end(), [&](const Extent& e) {
            return e.kind != ExtentKind::kChunk || repository.Find(e.id) != nullptr;
          });
      if (!parent_usable) {
        parent_maps[i].clear();
        full_read[i] = true;
        result.warnings.push_back(
            fmt::format("{}: the parent snapshot {} is being pruned; the volume is read in full",
                        s.path, inc->parent.id.ToHex().substr(0, 8)));
        readers.push_back(std::move(r));
        continue;
      }
      FERRY_ASSIGN_OR_RETURN(parent_hashes[i], hashes.get());
      parent_hash_block[i] = parent->hash_block_size;
    }
    readers.push_back(std::move(r));
  }

  result.io_backend = std::string(readers.front()->backend_name());
  result.fallback_reason = readers.front()->fallback_reason();
  repo::Snapshot& snap = result.snapshot;
  FERRY_ASSIGN_OR_RETURN(snap.id, repo::NewObjectId());
  snap.time = NowRfc3339();
  snap.tags = options.tags;
  snap.hostname = options.hostname;
  if (snap.hostname.empty()) snap.hostname = LocalHostname();

  // Packs publish in the background while workers fill the next. Two at once measured as fast
  // as four over S3 on loopback, and a transport that uploads whole objects holds each one in
  // memory until it is up (with the packs workers hold while waiting: about 5 × pack_size).
  ChunkStore store(repository, options.index_every_packs,
                   std::min(repository.transport().capabilities().parallelism, 2u));
  // A backup stalled long enough for a prune to take it for dead must not index packs that
  // prune deleted: that index would fail `check` even though the backup itself fails.
  store.set_index_gate([&](const std::vector<repo::IndexEntry>& entries) {
    // The packs are gathered only when the lock may have gone stale.
    return lock->ValidateBeforeNaming([&]() -> Result<std::set<repo::ObjectId>> {
      std::set<repo::ObjectId> packs;
      for (const repo::IndexEntry& e : entries) packs.insert(e.pack);
      return packs;
    });
  });
  FirstError error;
  std::atomic<uint64_t> bytes_read{0};
  ProgressTicker ticker;
  // Everything up to the snapshot; on failure (or a cancel) the packs that only this backup
  // knows of go again, rather than waiting for a prune.
  auto write_snapshot = [&]() -> Status {
    auto tick = [&] {
      if (options.progress && ticker.Due()) {
        options.progress({bytes_read.load(), total, ticker.seconds(), false});
      }
    };
    FERRY_ASSIGN_OR_RETURN(Codecs main_codecs,
                           Codecs::Create(repository, options.compression_level));
    uint64_t chunks = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      VolumeBackup volume(repository, store, options, *readers[i], error, bytes_read);
      if (const auto& inc = sources[i].incremental; inc && !full_read[i]) {
        repo::IncrementalInfo info;
        info.parent = inc->parent.id;
        info.parent_volume = inc->parent_volume;
        info.cbt = inc->cbt;
        info.changed_bytes = cbt::TotalBytes(inc->changes.ranges);
        info.verify_percent = options.cbt_verify_percent;
        volume.SetIncremental(std::move(parent_maps[i]), std::move(parent_hashes[i]),
                              parent_hash_block[i], *inc, info);
        if (!snap.parent) snap.parent = inc->parent.id;
      }
      FERRY_ASSIGN_OR_RETURN(std::vector<Extent> extents, volume.Run(threads, tick));
      FERRY_RETURN_IF_ERROR(repo::CheckTiling(extents, volume.size(), sources[i].path));
      repo::SnapshotVolume vol;
      vol.name = VolumeName(sources[i]);
      vol.source = sources[i].path;
      vol.source_format = std::string(readers[i]->format());
      vol.size = volume.size();
      vol.page_size = repo::kDefaultPageSize;
      vol.incremental = volume.incremental_info();
      if (vol.incremental && vol.incremental->mismatches > 0) {
        result.warnings.push_back(fmt::format(
            "the change source {} is wrong: {} of the sampled unchanged chunks of {} differ from "
            "the parent; the volume was read in full instead",
            vol.incremental->cbt, vol.incremental->mismatches, sources[i].path));
      }
      FERRY_ASSIGN_OR_RETURN(vol.pages, StoreMap(extents, vol.page_size, store, main_codecs));
      if (!volume.block_hashes().empty()) {
        vol.hash_block_size = VolumeBackup::kHashBlock;
        FERRY_ASSIGN_OR_RETURN(
            vol.hash_pages,
            StoreBlockHashes(volume.block_hashes(), vol.hash_block_size, store, main_codecs));
      }
      for (const std::string& note : volume.notes()) result.warnings.push_back(note);
      chunks += volume.chunks();
      snap.volumes.push_back(std::move(vol));
    }
    // Everything the snapshot names is durable and indexed before the snapshot exists.
    FERRY_RETURN_IF_ERROR(store.Flush(*main_codecs.sealer));
    // Workers are done: the repository's index may change now (later jobs dedup against it).
    for (const repo::IndexEntry& e : store.TakePublished()) repository.AddToIndex(e);
    snap.stats.bytes_read = bytes_read.load();
    snap.stats.bytes_new = store.bytes_new();
    snap.stats.bytes_stored = store.bytes_stored();
    snap.stats.chunks = chunks;
    snap.stats.chunks_new = store.chunks_new();
    snap.stats.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    FERRY_ASSIGN_OR_RETURN(std::string sealed, repo::EncodeSnapshot(*main_codecs.sealer, snap));
    FERRY_RETURN_IF_ERROR(
        lock->ValidateBeforeNaming([&] { return PacksUsedBy(repository, snap); }));
    FERRY_RETURN_IF_ERROR(
        repository.transport().Put("snapshots/" + snap.id.ToHex(), AsBytes(sealed)));
    return Status();
  };
  if (Status s = write_snapshot(); !s.ok()) {
    const ChunkStore::Removed removed = store.RemoveNeverIndexed();
    if (removed.packs == 0) return Err(s);
    return Err(
        s.WithNote(fmt::format("removed the {} pack(s) ({:.1f} MiB) that this backup had "
                               "written and no index names",
                               removed.packs, static_cast<double>(removed.bytes) / 1048576)));
  }
  for (std::string& m : lock->TakeMessages()) result.warnings.push_back(std::move(m));
  FERRY_RETURN_IF_ERROR(lock->Release());
  if (options.progress) options.progress({bytes_read.load(), total, ticker.seconds(), true});
  return result;
}

}  // namespace ferry
