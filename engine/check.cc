#include "engine/check.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "engine/block_hasher.h"
#include "engine/pack_reader.h"
#include "engine/restore.h"
#include "formats/repo/pack.h"

namespace ferry {

namespace {

struct PackInfo {
  uint64_t size = 0;
  std::map<codec::ChunkId, repo::PackEntry> entries;
  bool valid = false;
};

}  // namespace

Result<CheckReport> Check(Repository& repository, const CheckOptions& options) {
  CheckReport report;
  Transport& t = repository.transport();
  FERRY_ASSIGN_OR_RETURN(auto sealer, repository.NewSealer());
  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->cancelled(); };

  // 1. Pack headers.
  std::map<repo::ObjectId, PackInfo> packs;
  FERRY_ASSIGN_OR_RETURN(auto pack_names, t.List("data"));
  for (const std::string& name : pack_names) {
    if (cancelled()) return Err(Status::Cancelled("check was cancelled"));
    auto id = repo::ParseObjectId(name.substr(name.rfind('/') + 1));
    if (!id) {
      report.warnings.push_back(name + ": not a pack name; ignored");
      continue;
    }
    ++report.packs;
    auto header = ReadPackHeader(t, *sealer, *id);
    PackInfo& info = packs[*id];
    if (!header) {
      report.errors.push_back(header.error().message());
      continue;
    }
    info.size = header->size;
    for (const auto& e : header->entries) info.entries.emplace(e.id, e);
    info.valid = true;
  }

  // 2. Index entries against the pack headers.
  Status loaded = repository.LoadIndex();
  if (!loaded.ok()) report.errors.push_back(loaded.message());
  std::set<repo::ObjectId> indexed_packs;
  for (const auto& [id, loc] : repository.index()) {
    ++report.indexed_chunks;
    indexed_packs.insert(loc.pack);
    const std::string pack_name = repo::PackName(loc.pack);
    auto p = packs.find(loc.pack);
    if (p == packs.end()) {
      report.errors.push_back(fmt::format("index names chunk {} in {}, which does not exist",
                                          id.ToHex().substr(0, 16), pack_name));
      continue;
    }
    if (!p->second.valid) continue;  // Already reported.
    auto e = p->second.entries.find(id);
    if (e == p->second.entries.end() || e->second.offset != loc.offset ||
        e->second.stored_size != loc.stored_size || e->second.raw_size != loc.raw_size) {
      report.errors.push_back(fmt::format("{}: header does not match the index for chunk {}",
                                          pack_name, id.ToHex().substr(0, 16)));
    }
  }
  for (const auto& [id, info] : packs) {
    if (info.valid && indexed_packs.count(id) == 0) {
      report.warnings.push_back(repo::PackName(id) +
                                ": not indexed (left by an interrupted backup; harmless)");
    }
  }

  // 3. Snapshots: every map page and chunk resolves.
  FERRY_ASSIGN_OR_RETURN(auto snap_names, t.List("snapshots"));
  for (const std::string& name : snap_names) {
    if (cancelled()) return Err(Status::Cancelled("check was cancelled"));
    ++report.snapshots;
    auto id = repo::ParseObjectId(name.substr(name.rfind('/') + 1));
    if (!id) {
      report.errors.push_back(name + ": not a snapshot name");
      continue;
    }
    auto snap = repository.LoadSnapshot(*id);
    if (!snap) {
      report.errors.push_back(snap.error().message());
      continue;
    }
    for (const auto& vol : snap->volumes) {
      auto hashes = LoadBlockHashes(repository, vol);
      if (!hashes) {
        report.errors.push_back(
            fmt::format("snapshot {}: {}", id->ToHex().substr(0, 8), hashes.error().message()));
      }
      auto extents = LoadVolumeMap(repository, vol);
      if (!extents) {
        report.errors.push_back(
            fmt::format("snapshot {}: {}", id->ToHex().substr(0, 8), extents.error().message()));
        continue;
      }
      for (const auto& e : *extents) {
        if (e.kind == repo::ExtentKind::kChunk && repository.Find(e.id) == nullptr) {
          report.errors.push_back(fmt::format(
              "snapshot {} volume {}: chunk {} at offset {} is "
              "not in the index",
              id->ToHex().substr(0, 8), vol.name, e.id.ToHex().substr(0, 16), e.offset));
          break;
        }
      }
    }
  }

  // 4. Every blob, decrypted, decompressed and re-hashed.
  if (options.read_data) {
    auto hasher = repository.NewHasher();
    if (!hasher) return Err(hasher.error());
    codec::ZstdDecompressor dec;
    ProgressTicker ticker;
    uint64_t done_bytes = 0, total_bytes = 0;
    for (const auto& [id, info] : packs) total_bytes += info.size;
    std::string pack, plain, chunk;
    for (const auto& [id, info] : packs) {
      if (cancelled()) return Err(Status::Cancelled("check was cancelled"));
      if (!info.valid) continue;
      const std::string name = repo::PackName(id);
      auto bytes = t.Get(name);
      if (!bytes) {
        report.errors.push_back(bytes.error().message());
        continue;
      }
      for (const auto& [cid, e] : info.entries) {
        const std::string what = fmt::format("{} chunk {}", name, cid.ToHex().substr(0, 16));
        Status s = sealer->Open(AsBytes(repo::ChunkAad(cid.view())),
                                AsBytes(std::string_view(*bytes).substr(e.offset, e.stored_size)),
                                &plain, what);
        if (s.ok()) {
          auto decoded =
              Repository::DecodeChunkPayload(plain, e.raw_size, cid, dec, **hasher, &chunk, what);
          if (!decoded) s = decoded.error();
        }
        if (!s.ok()) {
          report.errors.push_back(s.message());
        } else {
          ++report.chunks_verified;
        }
      }
      done_bytes += info.size;
      if (options.progress && ticker.Due()) {
        options.progress({done_bytes, total_bytes, ticker.seconds(), false});
      }
    }
  }
  return report;
}

}  // namespace ferry
