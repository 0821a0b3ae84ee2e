#include "engine/check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "common/parallel_for.h"

#include "engine/block_hasher.h"
#include "engine/pack_reader.h"
#include "engine/repo_lock.h"
#include "engine/restore.h"
#include "formats/repo/pack.h"

namespace ferry {

namespace {

struct PackInfo {
  uint64_t size = 0;
  std::map<codec::ChunkId, repo::PackEntry> entries;
  bool valid = false;
};

std::string Short(const codec::ChunkId& id) { return id.ToHex().substr(0, 16); }

class Checker {
 public:
  Checker(Repository& repository, const CheckOptions& options)
      : repository_(repository), t_(repository.transport()), options_(options) {}

  Result<CheckReport> Run() {
    FERRY_ASSIGN_OR_RETURN(auto lock, RepoLock::Acquire(repository_, repo::LockKind::kRead));
    FERRY_RETURN_IF_ERROR(ReadPackHeaders());
    Status loaded = repository_.LoadIndex(lock->candidate_packs());
    if (!loaded.ok()) report_.errors.push_back(loaded.message());
    CompareIndexWithPacks();
    FERRY_RETURN_IF_ERROR(CheckCoordinationObjects());
    if (options_.read_data) FERRY_RETURN_IF_ERROR(ReadData());
    FERRY_RETURN_IF_ERROR(CheckSnapshots());
    ReportDamage();
    for (std::string& m : lock->TakeMessages()) report_.warnings.push_back(std::move(m));
    FERRY_RETURN_IF_ERROR(lock->Release());
    return std::move(report_);
  }

 private:
  Status Cancelled() const {
    if (options_.cancel != nullptr && options_.cancel->cancelled()) {
      return Status::Cancelled("check was cancelled");
    }
    return Status();
  }

  // Where a problem was found: in one blob (its message names the pack and chunk), or in the
  // whole pack (already reported once as an error of its own).
  enum class Scope { kBlob, kPack };

  void Damage(const codec::ChunkId& id, const std::string& pack, const std::string& problem,
              Scope scope) {
    damaged_.try_emplace(id, Damaged{DamagedChunk{pack, id.ToHex(), problem, {}}, scope});
  }

  unsigned Parallelism() const { return PackReadParallelism(t_); }

  Status ReadPackHeaders() {
    FERRY_ASSIGN_OR_RETURN(auto packs, t_.ListWithSizes("data"));
    // Read in parallel, reported in name order.
    std::vector<std::optional<repo::ObjectId>> ids(packs.size());
    std::vector<std::optional<Result<PackHeader>>> headers(packs.size());
    auto read_one = [&](size_t i) -> Status {
      FERRY_RETURN_IF_ERROR(Cancelled());
      auto id = repo::ObjectIdOfName(packs[i].name);
      if (!id) return Status();
      ids[i] = *id;
      FERRY_ASSIGN_OR_RETURN(auto sealer, repository_.NewSealer());
      headers[i] = ReadPackHeader(t_, *sealer, *id, packs[i].size);
      return Status();
    };
    FERRY_RETURN_IF_ERROR(ParallelFor(packs.size(), Parallelism(), read_one));
    for (size_t i = 0; i < packs.size(); ++i) {
      if (!ids[i]) {
        report_.warnings.push_back(packs[i].name + ": not a pack name; ignored");
        continue;
      }
      ++report_.packs;
      Result<PackHeader>& header = *headers[i];
      PackInfo& info = packs_[*ids[i]];
      if (!header) {
        report_.errors.push_back(header.error().message());
        continue;
      }
      info.size = header->size;
      for (const auto& e : header->entries) info.entries.emplace(e.id, e);
      info.valid = true;
    }
    return Status();
  }

  void CompareIndexWithPacks() {
    std::set<repo::ObjectId> indexed_packs;
    for (const auto& [id, loc] : repository_.index()) {
      ++report_.indexed_chunks;
      indexed_packs.insert(loc.pack);
      const std::string pack_name = repo::PackName(loc.pack);
      auto p = packs_.find(loc.pack);
      if (p == packs_.end()) {
        report_.errors.push_back(
            fmt::format("index names chunk {} in {}, which does not exist", Short(id), pack_name));
        Damage(id, pack_name, "its pack does not exist", Scope::kPack);
        continue;
      }
      if (!p->second.valid) {
        Damage(id, pack_name, "its pack's header cannot be read", Scope::kPack);
        continue;
      }
      auto e = p->second.entries.find(id);
      if (e == p->second.entries.end() || e->second.offset != loc.offset ||
          e->second.stored_size != loc.stored_size || e->second.raw_size != loc.raw_size) {
        report_.errors.push_back(
            fmt::format("{}: header does not match the index for chunk {}", pack_name, Short(id)));
      }
    }
    for (const auto& [id, info] : packs_) {
      if (info.valid && indexed_packs.count(id) == 0) {
        report_.warnings.push_back(repo::PackName(id) +
                                   ": not indexed (left by an interrupted backup or prune, or "
                                   "being written; a prune removes it)");
      }
    }
  }

  // Prune records must be readable (every job honours them); damaged locks are only ignored.
  Status CheckCoordinationObjects() {
    auto records = ListPruneRecords(repository_);
    if (!records) {
      report_.errors.push_back(records.error().message());
    } else if (!records->empty()) {
      report_.warnings.push_back(
          fmt::format("{} prune record(s) wait for running jobs; the next prune finishes them",
                      records->size()));
    }
    std::vector<std::string> problems;
    FERRY_ASSIGN_OR_RETURN(auto locks,
                           ListLocks(repository_, LockTiming::FromEnvironment(), &problems));
    for (const std::string& p : problems) report_.warnings.push_back(p);
    for (const LockView& l : locks) {
      if (l.stale) {
        report_.warnings.push_back(
            fmt::format("stale {} ({}); the next prune removes it", l.Describe(), l.stale_reason));
      }
    }
    return Status();
  }

  // What reading one pack found.
  struct PackVerdict {
    std::optional<Status> unreadable;  // The pack could not be read at all.
    std::vector<std::pair<codec::ChunkId, std::string>> damaged;  // Blobs, with the problem.
    uint64_t verified = 0;
  };

  // Reads a pack whole and opens, decodes and re-hashes each of its blobs.
  Result<PackVerdict> VerifyPack(const repo::ObjectId& id, const PackInfo& info) {
    FERRY_ASSIGN_OR_RETURN(auto sealer, repository_.NewSealer());
    FERRY_ASSIGN_OR_RETURN(auto hasher, repository_.NewHasher());
    codec::ZstdDecompressor dec;
    const std::string name = repo::PackName(id);
    PackVerdict verdict;
    auto bytes = t_.Get(name);
    if (!bytes) {
      verdict.unreadable = bytes.error();
      return verdict;
    }
    std::string plain, chunk;
    for (const auto& [cid, e] : info.entries) {
      const std::string what = fmt::format("{} chunk {}", name, Short(cid));
      Status s = sealer->Open(AsBytes(repo::ChunkAad(cid.view())),
                              AsBytes(std::string_view(*bytes).substr(e.offset, e.stored_size)),
                              &plain, what);
      if (s.ok()) {
        auto decoded =
            Repository::DecodeChunkPayload(plain, e.raw_size, cid, dec, *hasher, &chunk, what);
        if (!decoded) s = decoded.error();
      }
      if (s.ok()) {
        ++verdict.verified;
      } else {
        verdict.damaged.emplace_back(cid, s.message());
      }
    }
    return verdict;
  }

  // Verifies every blob of the chosen packs, several packs at once; reports in pack order.
  Status ReadData() {
    std::vector<const std::pair<const repo::ObjectId, PackInfo>*> chosen;
    for (const auto& p : packs_) {
      if (p.second.valid) chosen.push_back(&p);
    }
    if (options_.read_data_percent < 100) {
      const auto keep = static_cast<size_t>(
          std::ceil(static_cast<double>(chosen.size()) * options_.read_data_percent / 100.0));
      std::shuffle(chosen.begin(), chosen.end(), std::mt19937_64(std::random_device{}()));
      chosen.resize(std::min(keep, chosen.size()));
      std::sort(chosen.begin(), chosen.end(),
                [](const auto* a, const auto* b) { return a->first < b->first; });
    }
    ProgressTicker ticker;
    uint64_t total_bytes = 0;
    for (const auto* p : chosen) total_bytes += p->second.size;
    std::mutex progress_mu;
    uint64_t done_bytes = 0;  // GUARDED_BY(progress_mu)
    std::vector<PackVerdict> verdicts(chosen.size());
    auto verify_one = [&](size_t i) -> Status {
      FERRY_RETURN_IF_ERROR(Cancelled());
      FERRY_ASSIGN_OR_RETURN(verdicts[i], VerifyPack(chosen[i]->first, chosen[i]->second));
      std::lock_guard lock(progress_mu);
      done_bytes += chosen[i]->second.size;
      if (options_.progress && ticker.Due()) {
        options_.progress({done_bytes, total_bytes, ticker.seconds(), false});
      }
      return Status();
    };
    FERRY_RETURN_IF_ERROR(ParallelFor(chosen.size(), Parallelism(), verify_one));
    for (size_t i = 0; i < chosen.size(); ++i) {
      const auto& [id, info] = *chosen[i];
      const std::string name = repo::PackName(id);
      ++report_.packs_read;
      PackVerdict& v = verdicts[i];
      if (v.unreadable) {
        report_.errors.push_back(v.unreadable->message());
        for (const auto& [cid, e] : info.entries) {
          Damage(cid, name, v.unreadable->message(), Scope::kPack);
        }
        continue;
      }
      for (const auto& [cid, problem] : v.damaged) Damage(cid, name, problem, Scope::kBlob);
      report_.chunks_verified += v.verified;
    }
    return Status();
  }

  // Every map page and chunk of every snapshot resolves; the users of damaged chunks are noted.
  Status CheckSnapshots() {
    FERRY_ASSIGN_OR_RETURN(auto names, t_.List("snapshots"));
    for (const std::string& name : names) {
      FERRY_RETURN_IF_ERROR(Cancelled());
      ++report_.snapshots;
      auto id = repo::ObjectIdOfName(name);
      if (!id) {
        report_.errors.push_back(name + ": not a snapshot name");
        continue;
      }
      auto snap = repository_.LoadSnapshot(*id);
      if (!snap && snap.error().IsNotFound()) {  // Forgotten meanwhile.
        --report_.snapshots;
        continue;
      }
      if (!snap) {
        report_.errors.push_back(snap.error().message());
        continue;
      }
      const std::string sid = id->ToHex();
      auto uses = [&](const codec::ChunkId& chunk) {
        if (auto d = damaged_.find(chunk); d != damaged_.end()) {
          auto& users = d->second.chunk.snapshots;
          if (users.empty() || users.back() != sid) users.push_back(sid);
        }
      };
      for (const auto& vol : snap->volumes) {
        for (const auto& page : vol.pages) uses(page.id);
        for (const auto& page : vol.hash_pages) uses(page);
        auto hashes = LoadBlockHashes(repository_, vol);
        if (!hashes) {
          report_.errors.push_back(
              fmt::format("snapshot {}: {}", sid.substr(0, 8), hashes.error().message()));
        }
        auto extents = LoadVolumeMap(repository_, vol);
        if (!extents) {
          report_.errors.push_back(
              fmt::format("snapshot {}: {}", sid.substr(0, 8), extents.error().message()));
          continue;
        }
        bool missing = false;
        for (const auto& e : *extents) {
          if (e.kind != repo::ExtentKind::kChunk) continue;
          uses(e.id);
          if (!missing && repository_.Find(e.id) == nullptr) {
            report_.errors.push_back(
                fmt::format("snapshot {} volume {}: chunk {} at offset {} is not in the index",
                            sid.substr(0, 8), vol.name, Short(e.id), e.offset));
            missing = true;
          }
        }
      }
    }
    return Status();
  }

  void ReportDamage() {
    for (auto& [id, damaged] : damaged_) {
      DamagedChunk& d = damaged.chunk;
      std::string users = "no snapshot uses it";
      if (!d.snapshots.empty()) {
        users = "used by snapshot";
        if (d.snapshots.size() > 1) users += "s";
        for (size_t i = 0; i < d.snapshots.size(); ++i) {
          users += (i == 0 ? " " : ", ") + d.snapshots[i].substr(0, 8);
        }
      }
      if (damaged.scope == Scope::kBlob) {
        report_.errors.push_back(fmt::format("{} ({})", d.problem, users));
      } else if (!d.snapshots.empty()) {
        report_.errors.push_back(
            fmt::format("{} chunk {}: {} ({})", d.pack, Short(id), d.problem, users));
      }
      report_.damaged.push_back(std::move(d));
    }
  }

  Repository& repository_;
  Transport& t_;
  const CheckOptions& options_;
  std::map<repo::ObjectId, PackInfo> packs_;
  struct Damaged {
    DamagedChunk chunk;
    Scope scope;
  };
  std::map<codec::ChunkId, Damaged> damaged_;
  CheckReport report_;
};

}  // namespace

Result<CheckReport> Check(Repository& repository, const CheckOptions& options) {
  if (options.read_data_percent <= 0 || options.read_data_percent > 100) {
    return Err(
        Status::InvalidArgument("the share of packs to read must be above 0% and at most 100%"));
  }
  Checker checker(repository, options);
  return checker.Run();
}

}  // namespace ferry
