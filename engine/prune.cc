#include "engine/prune.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "common/origin.h"
#include "common/parallel_for.h"

#include "engine/chunk_filter.h"
#include "engine/pack_reader.h"
#include "formats/repo/index_file.h"
#include "formats/repo/prune_record.h"
#include "formats/repo/volume_map.h"

namespace ferry {

namespace {

using ChunkSet = std::unordered_set<codec::ChunkId, ChunkIdHash>;

// Used blobs of a pack being repacked that are at most this far apart are read in one request.
constexpr uint64_t kRepackReadGap = 256 << 10;
using PageLocations = std::unordered_map<codec::ChunkId, ChunkLocation, ChunkIdHash>;
using IndexVisitor = std::function<Status(const std::string& name, const repo::ObjectId& id,
                                          std::vector<repo::IndexEntry>& entries)>;

// The id a pack or index name ends with; the zero id for a name that is not one.
repo::ObjectId IdOfName(const std::string& name) {
  return repo::ObjectIdOfName(name).value_or(repo::ObjectId{});
}

// Streams every index object through `visit`, one at a time, in name order. The caller holds
// the exclusive lock, so only backups add objects meanwhile and nobody deletes one. Objects are
// fetched a batch at a time with the transport's parallelism in flight (over a network each is
// a round trip; a backup writes one every few packs), so memory holds a batch, not the index.
Status ForEachIndex(Repository& repository, repo::Sealer& sealer, const IndexVisitor& visit) {
  Transport& t = repository.transport();
  FERRY_ASSIGN_OR_RETURN(auto names, t.List("index"));
  const unsigned parallelism = std::max(1u, t.capabilities().parallelism);
  const size_t batch = 2 * size_t{parallelism};
  std::vector<std::string> sealed(std::min(batch, names.size()));
  for (size_t first = 0; first < names.size(); first += batch) {
    const size_t n = std::min(batch, names.size() - first);
    FERRY_RETURN_IF_ERROR(ParallelFor(n, parallelism, [&](size_t i) -> Status {
      FERRY_ASSIGN_OR_RETURN(sealed[i], t.Get(names[first + i]));
      return Status();
    }));
    for (size_t i = 0; i < n; ++i) {
      const std::string& name = names[first + i];
      FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::ObjectIdOfName(name));
      FERRY_ASSIGN_OR_RETURN(auto entries, repo::DecodeIndex(sealer, id, sealed[i], name));
      FERRY_RETURN_IF_ERROR(visit(name, id, entries));
    }
  }
  return Status();
}

// Visits every chunk a snapshot uses: its map pages, block-hash pages and data chunks. Map pages
// are found through `pages` (prune never loads the whole index); one read before is not read
// again, since its chunks were visited then.
class SnapshotWalker {
 public:
  SnapshotWalker(Repository& repository, const PageLocations& pages)
      : repository_(repository), pages_(pages) {}

  Status Walk(const repo::Snapshot& snap, const std::function<void(const codec::ChunkId&)>& use) {
    std::vector<codec::ChunkId> ids;  // Map pages not walked before, read below.
    std::vector<const ChunkLocation*> locations;
    std::vector<std::string> names;
    for (const repo::SnapshotVolume& vol : snap.volumes) {
      for (const codec::ChunkId& id : vol.hash_pages) use(id);
      for (const repo::MapPageRef& ref : vol.pages) {
        use(ref.id);
        if (!walked_.insert(ref.id).second) continue;
        std::string what =
            fmt::format("snapshot {} volume {}: map page {}", snap.id.ToHex().substr(0, 8),
                        vol.name, ref.id.ToHex().substr(0, 16));
        auto loc = pages_.find(ref.id);
        if (loc == pages_.end()) {
          return Status::Corruption(what +
                                    " is not in the index, so prune cannot tell what the "
                                    "snapshot uses; run `ferry check` and `ferry repair index`");
        }
        ids.push_back(ref.id);
        locations.push_back(&loc->second);
        names.push_back(std::move(what));
      }
    }
    // Many at once (a page per GiB of volume), in batches that bound the chunk ids held.
    constexpr size_t kBatch = 64;
    std::vector<std::vector<codec::ChunkId>> chunks(kBatch);
    for (size_t first = 0; first < ids.size(); first += kBatch) {
      const size_t n = std::min(kBatch, ids.size() - first);
      auto decode = [&](size_t i, std::string& page) -> Status {
        FERRY_ASSIGN_OR_RETURN(auto extents, repo::DecodeMapPage(page, names[first + i]));
        chunks[i].clear();
        for (const repo::Extent& e : extents) {
          if (e.kind == repo::ExtentKind::kChunk) chunks[i].push_back(e.id);
        }
        return Status();
      };
      FERRY_RETURN_IF_ERROR(repository_.ReadChunksAt(
          std::span(ids).subspan(first, n), std::span(locations).subspan(first, n), decode));
      for (size_t i = 0; i < n; ++i) {
        for (const codec::ChunkId& id : chunks[i]) use(id);
      }
    }
    return Status();
  }

 private:
  Repository& repository_;
  const PageLocations& pages_;
  ChunkSet walked_;
};

void AddPage(PageLocations& pages, const repo::IndexEntry& e) {
  if (e.type == repo::BlobType::kMapPage) {
    pages.try_emplace(e.id, ChunkLocation{e.pack, e.type, e.offset, e.stored_size, e.raw_size});
  }
}

// Writes repacked blobs into new packs, each indexed as soon as it is published, so a prune
// killed midway leaves at worst an unindexed pack (garbage for the next prune).
class PackCopier {
 public:
  PackCopier(Repository& repository, repo::Sealer& sealer)
      : repository_(repository), sealer_(sealer) {}

  Status Add(const repo::PackEntry& e, std::string_view sealed_blob) {
    if (!writer_) {
      FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::NewObjectId());
      builder_.emplace(id);
      FERRY_ASSIGN_OR_RETURN(writer_, repository_.transport().Create(
                                          repo::PackName(id), repository_.config().pack_size));
    }
    FERRY_RETURN_IF_ERROR(writer_->Append(AsBytes(sealed_blob)));
    builder_->Add(e.type, e.id, e.stored_size, e.raw_size);
    if (builder_->size() >= repository_.config().pack_size) return Close();
    return Status();
  }

  Status Close() {
    if (!writer_) return Status();
    FERRY_ASSIGN_OR_RETURN(std::string tail, builder_->Finish(sealer_));
    FERRY_RETURN_IF_ERROR(writer_->Append(AsBytes(tail)));
    FERRY_RETURN_IF_ERROR(writer_->Commit());
    std::vector<repo::IndexEntry> entries;
    for (const repo::PackEntry& p : builder_->entries()) {
      entries.push_back({p.id, builder_->id(), p.type, p.offset, p.stored_size, p.raw_size});
    }
    FERRY_ASSIGN_OR_RETURN(repo::ObjectId index_id, repo::NewObjectId());
    FERRY_ASSIGN_OR_RETURN(std::string sealed, repo::EncodeIndex(sealer_, index_id, entries));
    FERRY_RETURN_IF_ERROR(
        repository_.transport().Put("index/" + index_id.ToHex(), AsBytes(sealed)));
    writer_.reset();
    builder_.reset();
    return Status();
  }

 private:
  Repository& repository_;
  repo::Sealer& sealer_;
  std::optional<repo::PackBuilder> builder_;
  std::unique_ptr<ObjectWriter> writer_;
};

struct PackUse {
  uint64_t bytes = 0;
  uint64_t used_bytes = 0;
};

class Pruner {
 public:
  Pruner(Repository& repository, const PruneOptions& options, RepoLock& lock)
      : repository_(repository),
        t_(repository.transport()),
        options_(options),
        lock_(lock),
        object_lock_(repository.config().object_lock.enabled()),
        parallelism_(std::max(1u, t_.capabilities().parallelism)) {}

  Result<PruneReport> Run() {
    FERRY_ASSIGN_OR_RETURN(sealer_, repository_.NewSealer());
    std::vector<repo::PruneRecord> pending = lock_.honoured();
    if (!options_.dry_run && !pending.empty()) {
      FERRY_RETURN_IF_ERROR(ListPacks());
      // Earlier records first, so their packs are gone (or revived) before marking.
      std::vector<repo::PruneRecord> still;
      for (const auto& r : pending) {
        FERRY_ASSIGN_OR_RETURN(bool done, FinishRecord(r));
        if (!done) still.push_back(r);
      }
      pending = std::move(still);
    }
    std::set<repo::ObjectId> pending_packs;
    for (const auto& r : pending) pending_packs.insert(r.packs.begin(), r.packs.end());

    FERRY_ASSIGN_OR_RETURN(std::optional<repo::PruneRecord> record, Mark(pending_packs));
    if (record && !options_.dry_run) {
      FERRY_ASSIGN_OR_RETURN(bool done, FinishRecord(*record));
      if (!done) pending.push_back(*record);
    }
    report_.records_pending = pending.size();
    FERRY_RETURN_IF_ERROR(RemoveLeftovers());
    if (report_.packs_retained > 0) {
      report_.messages.push_back(fmt::format(
          "{} pack(s) no snapshot needs (or to repack) stay under Object Lock until {} at the "
          "latest; a later prune deletes them",
          report_.packs_retained, Rfc3339Seconds(latest_retained_)));
    }
    for (std::string& m : lock_.TakeMessages()) report_.messages.push_back(std::move(m));
    return std::move(report_);
  }

 private:
  Status Cancelled() const {
    if (options_.cancel != nullptr && options_.cancel->cancelled()) {
      return Status::Cancelled("prune was cancelled");
    }
    return Status();
  }

  // Deletes the temporaries no writer has touched for the stale-lock time (see prune.h).
  Status RemoveLeftovers() {
    auto leftovers = t_.ListLeftovers();
    if (!leftovers.has_value() && leftovers.error().IsNotSupported()) {
      report_.messages.push_back(leftovers.error().message() +
                                 "; a bucket lifecycle rule (AbortIncompleteMultipartUpload) "
                                 "must remove those killed backups leave");
      return Status();
    }
    if (!leftovers.has_value()) return leftovers.error();
    for (const LeftoverTemporary& l : *leftovers) {
      if (l.age < options_.lock_timing.stale) continue;
      FERRY_RETURN_IF_ERROR(Cancelled());
      if (!options_.dry_run) FERRY_RETURN_IF_ERROR(t_.RemoveLeftover(l));
      ++report_.leftovers_removed;
      report_.leftover_bytes_removed += l.size;
    }
    return Status();
  }

  // Phase 1: marks, repacks, and writes a record of the candidates (none if there are none).
  Result<std::optional<repo::PruneRecord>> Mark(const std::set<repo::ObjectId>& pending_packs) {
    repo::PruneRecord record;
    FERRY_ASSIGN_OR_RETURN(auto snapshots, repository_.ListSnapshots());
    report_.snapshots = snapshots.size();
    for (const auto& s : snapshots) record.snapshots.push_back(s.id);

    // Pass 1: where the map pages are, and how many entries the filter must hold.
    PageLocations pages;
    uint64_t entries = 0;
    FERRY_RETURN_IF_ERROR(ForEachIndex(
        repository_, *sealer_,
        [&](const std::string&, const repo::ObjectId&, std::vector<repo::IndexEntry>& list) {
          entries += list.size();
          for (const auto& e : list) AddPage(pages, e);
          return Status();
        }));
    ChunkFilter used(entries);
    report_.filter_bytes = used.memory_bytes();
    SnapshotWalker walker(repository_, pages);
    for (const auto& s : snapshots) {
      FERRY_RETURN_IF_ERROR(Cancelled());
      FERRY_RETURN_IF_ERROR(walker.Walk(s, [&](const codec::ChunkId& id) { used.Add(id); }));
    }
    pages = {};

    // Pass 2: how much of each pack is used.
    std::unordered_map<repo::ObjectId, PackUse, repo::ObjectIdHash> use;
    FERRY_RETURN_IF_ERROR(ForEachIndex(
        repository_, *sealer_,
        [&](const std::string&, const repo::ObjectId&, std::vector<repo::IndexEntry>& list) {
          for (const auto& e : list) {
            PackUse& u = use[e.pack];
            u.bytes += e.stored_size;
            if (used.MayContain(e.id)) u.used_bytes += e.stored_size;
          }
          return Status();
        }));

    FERRY_RETURN_IF_ERROR(ListPacks());
    std::vector<repo::ObjectId> repack;
    std::vector<repo::ObjectId> live;  // Packs that stay as they are.
    for (const auto& [id, size] : listed_) {
      if (pending_packs.count(id) != 0) continue;
      ++report_.packs;
      auto u = use.find(id);
      if (u == use.end() || u->second.used_bytes == 0) {
        // Unused, or never indexed (left by a killed backup, or being written by a running one:
        // phase 2 waits for those).
        ++report_.packs_unused;
        record.packs.push_back(id);
      } else if (u->second.bytes - u->second.used_bytes >=
                 static_cast<uint64_t>(options_.repack_unused *
                                       static_cast<double>(u->second.bytes))) {
        repack.push_back(id);
      } else {
        live.push_back(id);
      }
    }
    use = {};
    if (object_lock_) {
      // Packs still retained cannot go (docs/FORMAT.md §15): a later prune takes them.
      FERRY_ASSIGN_OR_RETURN(auto retained, DropRetained(&record.packs));
      report_.packs_retained += retained.size();
      FERRY_ASSIGN_OR_RETURN(retained, DropRetained(&repack));
      report_.packs_retained += retained.size();
      live.insert(live.end(), retained.begin(), retained.end());
    }

    if (options_.dry_run) {
      report_.packs_repacked = repack.size();
      return std::optional<repo::PruneRecord>();
    }
    if (object_lock_) {
      std::vector<std::string> names = {"config"};
      FERRY_ASSIGN_OR_RETURN(auto keys, t_.List("keys"));
      names.insert(names.end(), keys.begin(), keys.end());
      for (const auto& s : snapshots) names.push_back("snapshots/" + s.id.ToHex());
      for (const auto& id : live) names.push_back(repo::PackName(id));
      FERRY_RETURN_IF_ERROR(ExtendRetention(names));
    }
    FERRY_RETURN_IF_ERROR(Repack(repack, used, &record.packs));
    if (record.packs.empty()) return std::optional<repo::PruneRecord>();

    FERRY_ASSIGN_OR_RETURN(record.id, repo::NewObjectId());
    record.time = NowRfc3339();
    record.hostname = LocalHostname();
    FERRY_ASSIGN_OR_RETURN(std::string sealed, repo::EncodePruneRecord(*sealer_, record));
    FERRY_RETURN_IF_ERROR(t_.Put(repo::PruneRecordName(record.id), AsBytes(sealed)));
    return std::optional<repo::PruneRecord>(std::move(record));
  }

  // Takes the packs still under Object Lock out of `packs` and returns them.
  Result<std::vector<repo::ObjectId>> DropRetained(std::vector<repo::ObjectId>* packs) {
    std::vector<SystemTime> until(packs->size());
    FERRY_RETURN_IF_ERROR(ParallelFor(packs->size(), parallelism_, [&](size_t i) {
      auto r = t_.RetainedUntil(repo::PackName((*packs)[i]));
      if (!r && !r.error().IsNotFound()) return r.error();
      until[i] = r.value_or(SystemTime{});
      return Status();
    }));
    const SystemTime now = std::chrono::system_clock::now();
    std::vector<repo::ObjectId> kept, retained;
    for (size_t i = 0; i < packs->size(); ++i) {
      if (until[i] > now) {
        retained.push_back((*packs)[i]);
        latest_retained_ = std::max(latest_retained_, until[i]);
      } else {
        kept.push_back((*packs)[i]);
      }
    }
    *packs = std::move(kept);
    return retained;
  }

  // Keeps what the repository still needs retained for at least half the Object Lock period
  // more: objects written long ago that live snapshots still use would otherwise fall out of
  // their lock while those snapshots are younger than the period.
  Status ExtendRetention(const std::vector<std::string>& names) {
    const auto period = repository_.object_lock_policy().period;
    const SystemTime now = std::chrono::system_clock::now();
    std::atomic<uint64_t> extended{0};
    FERRY_RETURN_IF_ERROR(ParallelFor(names.size(), parallelism_, [&](size_t i) {
      auto until = t_.RetainedUntil(names[i]);
      if (!until) return until.error().IsNotFound() ? Status() : until.error();
      if (*until >= now + period / 2) return Status();
      extended.fetch_add(1, std::memory_order_relaxed);
      return t_.ExtendRetention(names[i], now + period);
    }));
    report_.retention_extended += extended.load();
    return Status();
  }

  // Copies the used blobs of `packs` into new indexed packs; each pack copied becomes a
  // candidate. A pack whose header or a used blob is damaged is left alone, with a message.
  Status Repack(const std::vector<repo::ObjectId>& packs, const ChunkFilter& used,
                std::vector<repo::ObjectId>* candidates) {
    PackCopier copier(repository_, *sealer_);
    ProgressTicker ticker;
    std::string plain;
    for (const repo::ObjectId& id : packs) {
      FERRY_RETURN_IF_ERROR(Cancelled());
      const std::string name = repo::PackName(id);
      auto header = ReadPackHeader(t_, *sealer_, id, listed_.at(id));
      if (!header) {
        report_.messages.push_back("not repacked: " + header.error().message());
        continue;
      }
      // Read only the used blobs: runs of them that lie close together in one read each.
      std::vector<repo::PackEntry> keep;
      for (const repo::PackEntry& e : header->entries) {
        if (used.MayContain(e.id)) keep.push_back(e);
      }
      std::sort(keep.begin(), keep.end(),
                [](const auto& a, const auto& b) { return a.offset < b.offset; });
      // The views in `blobs` point into `runs`, which never reallocates (at most one run per
      // blob).
      std::vector<std::string> runs;
      runs.reserve(keep.size());
      std::vector<std::string_view> blobs(keep.size());
      for (size_t i = 0; i < keep.size();) {
        size_t j = i + 1;
        uint64_t end = uint64_t{keep[i].offset} + keep[i].stored_size;
        while (j < keep.size() && keep[j].offset <= end + kRepackReadGap) {
          end = std::max<uint64_t>(end, uint64_t{keep[j].offset} + keep[j].stored_size);
          ++j;
        }
        std::string& run = runs.emplace_back(end - keep[i].offset, '\0');
        FERRY_ASSIGN_OR_RETURN(size_t got,
                               t_.ReadAt(name, keep[i].offset,
                                         {reinterpret_cast<std::byte*>(run.data()), run.size()}));
        if (got != run.size()) {
          return Status::Corruption(fmt::format("{}: shorter than its header says", name));
        }
        for (size_t k = i; k < j; ++k) {
          blobs[k] =
              std::string_view(run).substr(keep[k].offset - keep[i].offset, keep[k].stored_size);
        }
        i = j;
      }
      // Check every blob to be copied first: a damaged one stays where check can report it.
      bool intact = true;
      for (size_t k = 0; k < keep.size() && intact; ++k) {
        Status s = sealer_->Open(AsBytes(repo::ChunkAad(keep[k].id.view())), AsBytes(blobs[k]),
                                 &plain, name + " chunk " + keep[k].id.ToHex().substr(0, 16));
        if (!s.ok()) {
          report_.messages.push_back("not repacked: " + s.message());
          intact = false;
        }
      }
      if (!intact) continue;
      for (size_t k = 0; k < keep.size(); ++k) {
        FERRY_RETURN_IF_ERROR(copier.Add(keep[k], blobs[k]));
        ++report_.chunks_repacked;
        report_.bytes_repacked += keep[k].stored_size;
      }
      // The copies must be indexed before a record names this pack.
      FERRY_RETURN_IF_ERROR(copier.Close());
      ++report_.packs_repacked;
      candidates->push_back(id);
      if (options_.progress && ticker.Due()) {
        options_.progress({report_.bytes_repacked, 0, ticker.seconds(), false});
      }
    }
    return copier.Close();
  }

  // Lists the packs with their sizes (into listed_): one request per thousand packs on S3,
  // where asking each pack's size would be one each.
  Status ListPacks() {
    FERRY_ASSIGN_OR_RETURN(auto packs, t_.ListWithSizes("data"));
    listed_.clear();
    for (const ListedObject& p : packs) {
      const repo::ObjectId id = IdOfName(p.name);
      if (id != repo::ObjectId{}) listed_.emplace(id, p.size);
    }
    return Status();
  }

  // Phase 2 of `record`, whose packs listed_ holds if they are still there. Returns false if a
  // job that has not honoured it still runs.
  Result<bool> FinishRecord(const repo::PruneRecord& record) {
    std::vector<std::string> problems;
    FERRY_ASSIGN_OR_RETURN(auto locks, ListLocks(repository_, options_.lock_timing, &problems));
    for (std::string& p : problems) report_.messages.push_back(std::move(p));
    bool blocked = false;
    for (const LockView& l : locks) {
      if (l.record.session == lock_.session()) continue;
      if (l.stale) {
        for (const std::string& name : l.names) FERRY_RETURN_IF_ERROR(t_.Remove(name));
        report_.messages.push_back(
            fmt::format("removed a stale {} ({})", l.Describe(), l.stale_reason));
        continue;
      }
      const auto& seen = l.record.seen;
      if (std::find(seen.begin(), seen.end(), record.id) == seen.end()) {
        report_.waiting.push_back(
            fmt::format("{} packs wait for the {} to finish (it started before prune chose them)",
                        record.packs.size(), l.Describe()));
        blocked = true;
      }
    }
    if (blocked) return false;

    // Snapshots written since the record revive the candidates they use.
    const std::set<repo::ObjectId> candidates(record.packs.begin(), record.packs.end());
    const std::set<repo::ObjectId> marked(record.snapshots.begin(), record.snapshots.end());
    FERRY_ASSIGN_OR_RETURN(auto snapshots, repository_.ListSnapshots());
    std::unordered_map<codec::ChunkId, std::vector<repo::ObjectId>, ChunkIdHash> in_candidates;
    std::set<std::string> touched;  // Index objects naming a candidate.
    PageLocations pages;
    FERRY_RETURN_IF_ERROR(ForEachIndex(
        repository_, *sealer_,
        [&](const std::string& name, const repo::ObjectId&, std::vector<repo::IndexEntry>& list) {
          for (const auto& e : list) {
            AddPage(pages, e);
            if (candidates.count(e.pack) != 0) {
              in_candidates[e.id].push_back(e.pack);
              touched.insert(name);
            }
          }
          return Status();
        }));
    // Chunks of those snapshots that are in candidates. Usually another copy exists (a backup
    // that honoured the record stored its own): then the candidate is not needed.
    ChunkSet needed;
    SnapshotWalker walker(repository_, pages);
    for (const auto& s : snapshots) {
      if (marked.count(s.id) != 0) continue;
      FERRY_RETURN_IF_ERROR(Cancelled());
      FERRY_RETURN_IF_ERROR(walker.Walk(s, [&](const codec::ChunkId& id) {
        if (in_candidates.count(id) != 0) needed.insert(id);
      }));
    }
    if (!needed.empty()) {
      FERRY_RETURN_IF_ERROR(ForEachIndex(
          repository_, *sealer_,
          [&](const std::string&, const repo::ObjectId&, std::vector<repo::IndexEntry>& list) {
            for (const auto& e : list) {
              if (candidates.count(e.pack) == 0) needed.erase(e.id);
            }
            return Status();
          }));
    }
    std::set<repo::ObjectId> revived;
    for (const auto& id : needed) {
      const auto& packs = in_candidates.at(id);
      revived.insert(packs.begin(), packs.end());
    }
    std::set<repo::ObjectId> deletions;
    for (const auto& p : candidates) {
      if (revived.count(p) == 0) deletions.insert(p);
    }
    report_.packs_revived += revived.size();

    // New index objects before the old ones go, and no index names a pack when it goes. Each
    // object and each pack is its own round trips: many at once (a sealer per job: one each
    // thread).
    const std::vector<std::string> rewrite(touched.begin(), touched.end());
    std::atomic<uint64_t> rewritten{0};
    auto rewrite_index = [&](size_t i) -> Status {
      FERRY_RETURN_IF_ERROR(Cancelled());
      const std::string& name = rewrite[i];
      FERRY_ASSIGN_OR_RETURN(auto sealer, repository_.NewSealer());
      FERRY_ASSIGN_OR_RETURN(std::string sealed, t_.Get(name));
      FERRY_ASSIGN_OR_RETURN(auto entries,
                             repo::DecodeIndex(*sealer, IdOfName(name), sealed, name));
      std::vector<repo::IndexEntry> kept;
      for (const auto& e : entries) {
        if (deletions.count(e.pack) == 0) kept.push_back(e);
      }
      if (kept.size() == entries.size()) return Status();
      if (!kept.empty()) {
        FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::NewObjectId());
        FERRY_ASSIGN_OR_RETURN(std::string fresh, repo::EncodeIndex(*sealer, id, kept));
        FERRY_RETURN_IF_ERROR(t_.Put("index/" + id.ToHex(), AsBytes(fresh)));
      }
      FERRY_RETURN_IF_ERROR(t_.Remove(name));
      ++rewritten;
      return Status();
    };
    const Status indexed = ParallelFor(rewrite.size(), parallelism_, rewrite_index);
    report_.index_objects_rewritten += rewritten;
    FERRY_RETURN_IF_ERROR(indexed);

    // The packs still there (an earlier run may have deleted some already), in as few requests
    // as the backend allows (S3: a thousand a request). Their sizes, for the report, come from
    // the listing.
    std::vector<std::string> present;
    uint64_t bytes = 0;
    for (const repo::ObjectId& id : deletions) {
      auto listed = listed_.find(id);
      if (listed == listed_.end()) continue;
      present.push_back(repo::PackName(id));
      bytes += listed->second;
    }
    FERRY_RETURN_IF_ERROR(Cancelled());
    FERRY_RETURN_IF_ERROR(t_.RemoveMany(present));
    for (const repo::ObjectId& id : deletions) listed_.erase(id);
    report_.packs_deleted += present.size();
    report_.bytes_deleted += bytes;
    FERRY_RETURN_IF_ERROR(t_.Remove(repo::PruneRecordName(record.id)));
    ++report_.records_finished;
    return true;
  }

  Repository& repository_;
  Transport& t_;
  const PruneOptions& options_;
  RepoLock& lock_;
  std::unique_ptr<repo::Sealer> sealer_;
  PruneReport report_;
  const bool object_lock_;
  const unsigned parallelism_;    // Requests worth keeping in flight.
  SystemTime latest_retained_{};  // Of the packs left for their Object Lock.
  // The packs as last listed, and their sizes: what a record's deletions are checked against.
  std::map<repo::ObjectId, uint64_t> listed_;
};

}  // namespace

Result<PruneReport> Prune(Repository& repository, const PruneOptions& options) {
  if (!(options.repack_unused > 0 && options.repack_unused <= 1)) {
    return Err(Status::InvalidArgument("the repack threshold must be above 0% and at most 100%"));
  }
  FERRY_RETURN_IF_ERROR(repository.CheckWritable());
  FERRY_ASSIGN_OR_RETURN(
      auto lock, RepoLock::Acquire(repository, repo::LockKind::kExclusive, options.lock_timing));
  Pruner pruner(repository, options, *lock);
  FERRY_ASSIGN_OR_RETURN(PruneReport report, pruner.Run());
  FERRY_RETURN_IF_ERROR(lock->Release());
  return report;
}

}  // namespace ferry
