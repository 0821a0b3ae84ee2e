#include "engine/repair_index.h"

#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "common/parallel_for.h"

#include "engine/pack_reader.h"
#include "engine/repo_lock.h"
#include "formats/repo/index_file.h"

namespace ferry {

namespace {

// Entries per index object written: about 5 MiB sealed.
constexpr size_t kEntriesPerIndex = 1 << 16;

}  // namespace

Result<RepairIndexReport> RepairIndex(Repository& repository, const RepairIndexOptions& options) {
  FERRY_ASSIGN_OR_RETURN(auto lock, RepoLock::Acquire(repository, repo::LockKind::kExclusive));
  Transport& t = repository.transport();
  FERRY_ASSIGN_OR_RETURN(auto sealer, repository.NewSealer());
  RepairIndexReport report;
  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->cancelled(); };

  // The old index objects are listed first: whatever a backup indexes after this stays.
  FERRY_ASSIGN_OR_RETURN(auto old_names, t.List("index"));
  FERRY_ASSIGN_OR_RETURN(auto packs, t.ListWithSizes("data"));

  std::vector<repo::IndexEntry> pending;
  auto flush = [&](bool all) -> Status {
    while (pending.size() >= kEntriesPerIndex || (all && !pending.empty())) {
      const size_t n = std::min(pending.size(), kEntriesPerIndex);
      std::vector<repo::IndexEntry> batch(pending.begin(), pending.begin() + static_cast<long>(n));
      FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::NewObjectId());
      FERRY_ASSIGN_OR_RETURN(std::string sealed, repo::EncodeIndex(*sealer, id, batch));
      FERRY_RETURN_IF_ERROR(t.Put("index/" + id.ToHex(), AsBytes(sealed)));
      ++report.index_objects_written;
      pending.erase(pending.begin(), pending.begin() + static_cast<long>(n));
    }
    return Status();
  };

  // Headers are read a batch at a time, many at once (over a network each is a round trip), and
  // indexed in pack order.
  std::set<repo::ObjectId> existing, unreadable;
  ProgressTicker ticker;
  const unsigned parallelism = PackReadParallelism(t);
  const size_t batch = 4 * size_t{parallelism};
  std::vector<std::optional<repo::ObjectId>> ids(batch);
  std::vector<std::optional<Result<PackHeader>>> headers(batch);
  for (size_t first = 0; first < packs.size(); first += batch) {
    const size_t n = std::min(batch, packs.size() - first);
    auto read_one = [&](size_t i) -> Status {
      if (cancelled()) return Status::Cancelled("repair was cancelled");
      const ListedObject& pack = packs[first + i];
      auto id = repo::ObjectIdOfName(pack.name);
      ids[i].reset();
      headers[i].reset();
      if (!id) return Status();
      ids[i] = *id;
      FERRY_ASSIGN_OR_RETURN(auto reader_sealer, repository.NewSealer());
      headers[i] = ReadPackHeader(t, *reader_sealer, *ids[i], pack.size);
      return Status();
    };
    FERRY_RETURN_IF_ERROR(ParallelFor(n, parallelism, read_one));
    for (size_t i = 0; i < n; ++i) {
      if (!ids[i]) continue;
      const repo::ObjectId& id = *ids[i];
      ++report.packs;
      existing.insert(id);
      Result<PackHeader>& header = *headers[i];
      if (!header) {
        unreadable.insert(id);
        report.messages.push_back(header.error().message());
        continue;
      }
      for (const repo::PackEntry& e : header->entries) {
        pending.push_back({e.id, id, e.type, e.offset, e.stored_size, e.raw_size});
      }
      report.entries += header->entries.size();
      FERRY_RETURN_IF_ERROR(flush(false));
    }
    if (options.progress && ticker.Due()) {
      options.progress({report.packs, packs.size(), ticker.seconds(), false});
    }
  }
  report.packs_unreadable = unreadable.size();

  // What the old index knew of packs whose header is damaged is all there is: keep it, so their
  // intact chunks stay reachable (check --read-data names the damaged ones).
  for (const std::string& name : old_names) {
    auto id = repo::ObjectIdOfName(name);
    if (!id) continue;
    auto sealed = t.Get(name);
    if (!sealed) return Err(sealed.error());
    auto entries = repo::DecodeIndex(*sealer, *id, *sealed, name);
    if (!entries) {
      report.messages.push_back(entries.error().message() + " (replaced)");
      continue;
    }
    for (const auto& e : *entries) {
      if (unreadable.count(e.pack) != 0) {
        pending.push_back(e);
        ++report.entries_carried;
        ++report.entries;
      } else if (existing.count(e.pack) == 0) {
        ++report.entries_dropped;
      }
    }
  }
  FERRY_RETURN_IF_ERROR(flush(true));
  for (const std::string& name : old_names) {
    FERRY_RETURN_IF_ERROR(t.Remove(name));
    ++report.index_objects_removed;
  }
  for (std::string& m : lock->TakeMessages()) report.messages.push_back(std::move(m));
  FERRY_RETURN_IF_ERROR(lock->Release());
  return report;
}

}  // namespace ferry
