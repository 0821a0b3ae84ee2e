#include "engine/repair_index.h"

#include <set>

#include <fmt/format.h>

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

  std::set<repo::ObjectId> existing, unreadable;
  ProgressTicker ticker;
  for (const ListedObject& pack : packs) {
    if (cancelled()) return Err(Status::Cancelled("repair was cancelled"));
    auto id = repo::ParseObjectId(pack.name.substr(pack.name.rfind('/') + 1));
    if (!id) continue;
    ++report.packs;
    existing.insert(*id);
    auto header = ReadPackHeader(t, *sealer, *id, pack.size);
    if (!header) {
      unreadable.insert(*id);
      report.messages.push_back(header.error().message());
      continue;
    }
    for (const repo::PackEntry& e : header->entries) {
      pending.push_back({e.id, *id, e.type, e.offset, e.stored_size, e.raw_size});
    }
    report.entries += header->entries.size();
    FERRY_RETURN_IF_ERROR(flush(false));
    if (options.progress && ticker.Due()) {
      options.progress({report.packs, packs.size(), ticker.seconds(), false});
    }
  }
  report.packs_unreadable = unreadable.size();

  // What the old index knew of packs whose header is damaged is all there is: keep it, so their
  // intact chunks stay reachable (check --read-data names the damaged ones).
  for (const std::string& name : old_names) {
    auto id = repo::ParseObjectId(name.substr(name.rfind('/') + 1));
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
