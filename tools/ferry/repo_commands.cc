// ferry init | backup | snapshots | restore | check | stats: thin shells over engine jobs.
#include <bit>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cbt/cbt_spec.h"
#include "engine/backup.h"
#include "engine/check.h"
#include "engine/restore.h"
#include "formats/qcow2_layout/layout_format.h"
#include "tools/ferry/chunker_flags.h"
#include "tools/ferry/commands.h"
#include "tools/ferry/layout_commands.h"
#include "tools/ferry/repo_access.h"
#include "tools/ferry/repo_args.h"
#include "tools/ferry/terminal.h"

namespace ferry::cli {

int Fail(const Status& s) {
  PrintError(s.message());
  if (s.IsCancelled()) return kExitCancelled;
  return s.IsInvalidArgument() ? kExitUsage : kExitFailure;
}

Result<double> ParsePercent(const std::string& text, const std::string& flag) {
  std::string number = text;
  if (!number.empty() && number.back() == '%') number.pop_back();
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || !(v > 0 && v <= 100)) {
    return Err(Status::InvalidArgument(
        fmt::format("{} {}: expected a percentage above 0 and at most 100", flag, text)));
  }
  return v;
}

void PrintJson(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

std::string Short(const repo::ObjectId& id) { return id.ToHex().substr(0, 8); }

namespace {

using nlohmann::json;

// --- init -------------------------------------------------------------------------------

int RunInit(const InitArgs& a) {
  if (a.layout == "qcow2") return RunLayoutInit(a);
  if (a.layout != "dedup") {
    return Fail(Status::InvalidArgument("--layout " + a.layout + ": expected dedup or qcow2"));
  }
  if (a.compress != "none" || a.cluster_size != 65536 || a.full_every != 0) {
    return Fail(
        Status::InvalidArgument("--compress, --cluster-size and --full-every need --layout qcow2"));
  }
  InitOptions o;
  if (a.encryption != "aes-256-gcm" && a.encryption != "none") {
    return Fail(Status::InvalidArgument("--encryption must be aes-256-gcm or none"));
  }
  o.encrypted = a.encryption == "aes-256-gcm";
  auto params = ChunkerParamsFromFlags(a.chunker, o.chunker);
  if (!params) return Fail(params.error());
  o.chunker = *params;
  if (a.compression) o.compression_level = *a.compression;
  o.incremental_compression_level =
      a.incremental_compression ? a.incremental_compression : a.compression;
  o.pack_size = a.pack_size_mib << 20;
  if (a.pack_size_mib < 4 || a.pack_size_mib > 128) {
    return Fail(Status::InvalidArgument("--pack-size must be 4 to 128 MiB"));
  }
  if (a.object_lock_mode != "compliance" && a.object_lock_mode != "governance") {
    return Fail(Status::InvalidArgument("--object-lock-mode must be compliance or governance"));
  }
  o.object_lock = {.days = a.object_lock_days, .governance = a.object_lock_mode == "governance"};
  if (o.encrypted) {
    auto pass = ReadPassphrase(a.repo, true);
    if (!pass) return Fail(pass.error());
    if (pass->empty()) return Fail(Status::InvalidArgument("the passphrase is empty"));
    o.passphrase = *pass;
  }
  auto transport = OpenTransport(a.repo, true);
  if (!transport) return Fail(transport.error());
  auto repo = Repository::Init(std::move(*transport), o);
  if (!repo) return Fail(repo.error());
  const repo::RepoConfig& config = (*repo)->config();
  std::fprintf(stderr,
               "ferry: created repository %s at %s (%s, %s %u KiB average, zstd level %d, %d "
               "for incrementals)\n",
               Short(config.id).c_str(), a.repo.repo.c_str(), a.encryption.c_str(),
               a.chunker.algorithm.c_str(), o.chunker.avg_size >> 10, config.compression_level,
               config.IncrementalCompressionLevel());
  if (o.object_lock.enabled()) {
    std::fprintf(stderr,
                 "ferry: everything but locks, prune records and indexes is kept under S3 "
                 "Object Lock (%s) for %u days from when it is written; run `ferry prune` at "
                 "least every %u days to keep what live snapshots use locked\n",
                 a.object_lock_mode.c_str(), o.object_lock.days,
                 std::max(1u, o.object_lock.days / 2));
  }
  return kExitOk;
}

// --- backup -----------------------------------------------------------------------------

// The snapshot holding the parent of `volume`: "auto" is the latest snapshot that has a volume
// of that name (none: a full backup); anything else names a snapshot that must have it.
Result<std::optional<repo::Snapshot>> FindParent(Repository& repo, const std::string& spec,
                                                 const std::string& volume) {
  if (spec == "auto") {
    FERRY_ASSIGN_OR_RETURN(std::vector<repo::Snapshot> all, repo.ListSnapshots());
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      for (const auto& v : it->volumes) {
        if (v.name == volume) return std::optional<repo::Snapshot>(*it);
      }
    }
    return std::optional<repo::Snapshot>();
  }
  FERRY_ASSIGN_OR_RETURN(repo::Snapshot snap, repo.ResolveSnapshot(spec));
  for (const auto& v : snap.volumes) {
    if (v.name == volume) return std::optional<repo::Snapshot>(std::move(snap));
  }
  return Err(Status::NotFound(
      fmt::format("--parent {}: snapshot {} has no volume '{}'", spec, Short(snap.id), volume)));
}

int RunBackup(const BackupArgs& a) {
  if (IsQcow2Layout(a.repo)) return RunLayoutBackup(a);
  if (a.full) {
    return Fail(Status::InvalidArgument(
        "--full is for the qcow2 layout: here a backup without --parent is a full one"));
  }
  if (!a.name.empty() && a.sources.size() > 1) {
    return Fail(Status::InvalidArgument("--name names a single source"));
  }
  if (!a.cbt.empty() && a.parent.empty()) {
    return Fail(Status::InvalidArgument("--cbt needs --parent (SNAPSHOT, latest or auto)"));
  }
  if (!a.cbt.empty() && a.sources.size() > 1) {
    return Fail(Status::InvalidArgument("--cbt describes one volume: back up one source"));
  }
  if (a.cbt_verify < 0 || a.cbt_verify > 100) {
    return Fail(Status::InvalidArgument("--cbt-verify takes a percentage from 0 to 100"));
  }
  // The change source is read and checked before the repository is touched.
  std::optional<cbt::CbtSpec> spec;
  std::optional<cbt::ChangedBlocks> changes;
  if (!a.cbt.empty()) {
    auto parsed = cbt::ParseCbtSpec(a.cbt);
    if (!parsed) return Fail(parsed.error());
    spec = *parsed;
  } else if (!a.parent.empty()) {
    spec = cbt::CbtSpec{cbt::CbtKind::kHash, {}};
  }
  if (spec && spec->kind != cbt::CbtKind::kHash) {
    auto loaded = cbt::LoadChangedBlocks(*spec, a.sources.front(), &GlobalCancel());
    if (!loaded) return Fail(loaded.error());
    changes = std::move(*loaded);
  }
  auto format = qcow2::ParseImageFormat(a.source_format);
  if (!format) return Fail(format.error());
  auto repo = OpenRepository(a.repo, false);  // Backup reads the index under its own lock.
  if (!repo) return Fail(repo.error());
  std::vector<BackupSource> sources;
  for (const auto& s : a.sources) {
    sources.emplace_back(s, a.name);
    sources.back().format = *format;
  }
  for (BackupSource& source : sources) {
    if (!spec) break;
    const std::string volume = VolumeName(source);
    auto parent = FindParent(**repo, a.parent, volume);
    if (!parent) return Fail(parent.error());
    if (!*parent) {
      PrintError(fmt::format("no earlier backup of volume '{}': backing it up in full", volume));
      continue;
    }
    IncrementalSource inc;
    inc.parent = std::move(**parent);
    inc.parent_volume = volume;
    if (changes) {
      inc.changes = *changes;
      inc.untrusted = changes->untrusted;
    } else {
      inc.hash_diff = true;
    }
    inc.cbt = spec->ToString();
    source.incremental = std::move(inc);
  }
  BackupOptions o;
  o.cbt_verify_percent = a.cbt_verify;
  o.compression_level = a.compression;
  o.tags = a.tags;
  o.threads = a.threads;
  o.memory_bytes = a.memory_mib << 20;
  o.cancel = &GlobalCancel();
  auto backend = io::ParseBackendKind(a.io_backend);
  if (!backend) return Fail(backend.error());
  o.io_backend = *backend;
  ProgressLine line;
  o.progress = [&](const Progress& p) { line.Update(p); };
  auto r = Backup(**repo, sources, o);
  if (!r) return Fail(r.error());
  if (!r->fallback_reason.empty()) PrintError(r->fallback_reason);
  for (const std::string& w : r->warnings) PrintError("WARNING: " + w);
  const repo::Snapshot& s = r->snapshot;
  uint64_t logical = 0;
  for (const auto& v : s.volumes) logical += v.size;
  if (a.json) {
    PrintJson({{"snapshot", s.id.ToHex()},
               {"volumes", s.volumes.size()},
               {"size", logical},
               {"bytes_read", s.stats.bytes_read},
               {"bytes_new", s.stats.bytes_new},
               {"bytes_stored", s.stats.bytes_stored},
               {"chunks", s.stats.chunks},
               {"chunks_new", s.stats.chunks_new},
               {"seconds", s.stats.seconds},
               {"io_backend", r->io_backend},
               {"parent", s.parent ? json(s.parent->ToHex()) : json(nullptr)},
               {"cbt_fell_back", !r->warnings.empty()}});
  } else {
    if (s.parent) {
      std::printf("snapshot %s saved (incremental from %s)\n", Short(s.id).c_str(),
                  Short(*s.parent).c_str());
    } else {
      std::printf("snapshot %s saved\n", Short(s.id).c_str());
    }
    std::printf("  %s in %zu volume(s); read %s, new %s, stored %s\n",
                HumanBytes(static_cast<double>(logical)).c_str(), s.volumes.size(),
                HumanBytes(static_cast<double>(s.stats.bytes_read)).c_str(),
                HumanBytes(static_cast<double>(s.stats.bytes_new)).c_str(),
                HumanBytes(static_cast<double>(s.stats.bytes_stored)).c_str());
    std::printf("  %.2f s, %s (of the volume size)\n", s.stats.seconds,
                HumanRate(static_cast<double>(logical), s.stats.seconds).c_str());
    for (const auto& v : s.volumes) {
      if (v.source_format == "raw") continue;
      std::printf("  %s: read as %s (the guest's view of %s)\n", v.name.c_str(),
                  v.source_format.c_str(), v.source.c_str());
    }
  }
  return kExitOk;
}

// --- snapshots --------------------------------------------------------------------------

int RunSnapshots(const ListArgs& a) {
  if (IsQcow2Layout(a.repo)) return RunLayoutSnapshots(a);
  auto repo = OpenRepository(a.repo, false);
  if (!repo) return Fail(repo.error());
  auto list = (*repo)->ListSnapshots();
  if (!list) return Fail(list.error());
  if (a.json) {
    json out = json::array();
    for (const auto& s : *list) {
      json vols = json::array();
      for (const auto& v : s.volumes) {
        json vol = {{"name", v.name},
                    {"source", v.source},
                    {"source_format", v.source_format},
                    {"size", v.size}};
        if (const auto& inc = v.incremental) {
          vol["incremental"] = {{"parent", inc->parent.ToHex()},
                                {"cbt", inc->cbt},
                                {"changed_bytes", inc->changed_bytes},
                                {"fell_back", inc->fell_back}};
        }
        vols.push_back(std::move(vol));
      }
      out.push_back({{"id", s.id.ToHex()},
                     {"time", s.time},
                     {"hostname", s.hostname},
                     {"tags", s.tags},
                     {"parent", s.parent ? json(s.parent->ToHex()) : json(nullptr)},
                     {"volumes", vols}});
    }
    PrintJson(out);
    return kExitOk;
  }
  std::printf("%-8s  %-27s  %-8s  %-16s  %-30s  %s\n", "ID", "TIME", "PARENT", "HOST", "VOLUMES",
              "TAGS");
  for (const auto& s : *list) {
    std::string vols, tags;
    for (const auto& v : s.volumes) {
      vols += (vols.empty() ? "" : ", ") + v.name + " (" + HumanBytes(static_cast<double>(v.size)) +
              ")";
    }
    for (const auto& t : s.tags) tags += (tags.empty() ? "" : ",") + t;
    const std::string parent = s.parent ? Short(*s.parent) : "-";
    std::printf("%-8s  %-27s  %-8s  %-16s  %-30s  %s\n", Short(s.id).c_str(), s.time.c_str(),
                parent.c_str(), s.hostname.c_str(), vols.c_str(), tags.c_str());
  }
  std::printf("%zu snapshot(s)\n", list->size());
  return kExitOk;
}

// --- restore ----------------------------------------------------------------------------

}  // namespace

Result<std::optional<qcow2::Compression>> ParseQcow2Compression(const std::string& text) {
  if (text == "zstd") return qcow2::Compression::kZstd;
  if (text == "zlib") return qcow2::Compression::kZlib;
  if (text == "none") return std::optional<qcow2::Compression>();
  return Err(Status::InvalidArgument("--compress " + text + ": expected none, zstd or zlib"));
}

Result<uint32_t> ParseClusterSize(uint64_t size, int min_bits) {
  const int bits = std::countr_zero(size);
  if (!std::has_single_bit(size) || bits < min_bits || bits > 21) {
    return Err(Status::InvalidArgument(fmt::format(
        "--cluster-size {}: a power of two from {} to 2097152", size, uint64_t{1} << min_bits)));
  }
  return static_cast<uint32_t>(bits);
}

Result<std::optional<cbt::ExtentList>> TargetChanges(const RestoreArgs& a) {
  if (a.cbt.empty()) return std::optional<cbt::ExtentList>();
  if (!a.delta) return Err(Status::InvalidArgument("--cbt on restore needs --delta"));
  FERRY_ASSIGN_OR_RETURN(cbt::CbtSpec spec, cbt::ParseCbtSpec(a.cbt));
  FERRY_ASSIGN_OR_RETURN(cbt::ChangedBlocks changes,
                         cbt::LoadChangedBlocks(spec, a.target, &GlobalCancel()));
  if (!changes.untrusted.empty()) {
    PrintError("WARNING: " + changes.untrusted + ": comparing the whole target instead");
    return std::optional<cbt::ExtentList>();
  }
  return std::optional<cbt::ExtentList>(std::move(changes.ranges));
}

Result<std::optional<Qcow2ExportOptions>> Qcow2Options(const RestoreArgs& a) {
  if (a.format == "raw") {
    if (a.compress != "none" || !a.backing.empty()) {
      return Err(Status::InvalidArgument("--compress and --backing need --format qcow2"));
    }
    return std::optional<Qcow2ExportOptions>();
  }
  if (a.format != "qcow2") {
    return Err(Status::InvalidArgument("--format " + a.format + ": expected raw or qcow2"));
  }
  if (a.target == "-") {
    return Err(Status::InvalidArgument("a QCOW2 image is written to a file, not standard output"));
  }
  Qcow2ExportOptions q;
  q.backing = a.backing;
  FERRY_ASSIGN_OR_RETURN(q.compression, ParseQcow2Compression(a.compress));
  FERRY_ASSIGN_OR_RETURN(q.cluster_bits, ParseClusterSize(a.cluster_size, 9));
  return std::optional<Qcow2ExportOptions>(q);
}

namespace {

int RunRestore(const RestoreArgs& a) {
  if (IsQcow2Layout(a.repo)) return RunLayoutRestore(a);
  auto qcow2 = Qcow2Options(a);
  if (!qcow2) return Fail(qcow2.error());
  auto repo = OpenRepository(a.repo, false);
  if (!repo) return Fail(repo.error());
  std::string spec = a.what, volume;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    volume = spec.substr(colon + 1);
    spec = spec.substr(0, colon);
  }
  auto snap = (*repo)->ResolveSnapshot(spec);
  if (!snap) return Fail(snap.error());
  RestoreOptions o;
  auto changes = TargetChanges(a);
  if (!changes) return Fail(changes.error());
  o.target_changes = std::move(*changes);
  o.overwrite = a.overwrite;
  o.delta = a.delta;
  o.qcow2 = *qcow2;
  o.threads = a.threads;
  o.cancel = &GlobalCancel();
  ProgressLine line;
  if (a.target != "-") o.progress = [&](const Progress& p) { line.Update(p); };
  auto r = Restore(**repo, *snap, volume, a.target, o);
  if (!r) return Fail(r.error());
  for (const std::string& m : r->warnings) PrintError("warning: " + m);
  if (a.target == "-") return kExitOk;
  if (a.json) {
    PrintJson({{"snapshot", snap->id.ToHex()},
               {"target", a.target},
               {"size", r->size},
               {"delta", a.delta},
               {"bytes_written", r->bytes_written},
               {"bytes_compared", r->bytes_compared},
               {"chunks", r->chunks},
               {"io_backend", r->io_backend},
               {"direct_io", r->direct},
               {"format", a.format},
               {"clusters", r->clusters},
               {"pack_reads", r->pack_reads},
               {"pack_bytes_read", r->pack_bytes_read},
               {"window", r->shape.window},
               {"threads", r->shape.threads},
               {"seconds", r->seconds}});
  } else if (a.delta) {
    std::printf(
        "delta-restored %s of snapshot %s to %s in %.2f s (%s): compared %s, wrote %s "
        "(%llu chunks fetched), every chunk verified\n",
        HumanBytes(static_cast<double>(r->size)).c_str(), Short(snap->id).c_str(), a.target.c_str(),
        r->seconds, HumanRate(static_cast<double>(r->size), r->seconds).c_str(),
        HumanBytes(static_cast<double>(r->bytes_compared)).c_str(),
        HumanBytes(static_cast<double>(r->bytes_written)).c_str(),
        static_cast<unsigned long long>(r->chunks));
  } else if (qcow2->has_value()) {
    std::printf(
        "restored %s of snapshot %s to QCOW2 image %s%s in %.2f s (%s): %llu clusters, "
        "%s written, every chunk verified\n",
        HumanBytes(static_cast<double>(r->size)).c_str(), Short(snap->id).c_str(), a.target.c_str(),
        a.backing.empty() ? "" : (" over " + a.backing).c_str(), r->seconds,
        HumanRate(static_cast<double>(r->size), r->seconds).c_str(),
        static_cast<unsigned long long>(r->clusters),
        HumanBytes(static_cast<double>(r->bytes_written)).c_str());
  } else {
    std::printf("restored %s of snapshot %s to %s in %.2f s (%s), every chunk verified\n",
                HumanBytes(static_cast<double>(r->size)).c_str(), Short(snap->id).c_str(),
                a.target.c_str(), r->seconds,
                HumanRate(static_cast<double>(r->size), r->seconds).c_str());
  }
  return kExitOk;
}

// --- check ------------------------------------------------------------------------------

int RunCheck(const CheckArgs& a) {
  if (IsQcow2Layout(a.repo)) return RunLayoutCheck(a);
  auto repo = OpenRepository(a.repo, false);
  if (!repo) return Fail(repo.error());
  CheckOptions o;
  o.read_data = a.read_data || !a.read_data_subset.empty();
  if (!a.read_data_subset.empty()) {
    auto percent = ParsePercent(a.read_data_subset, "--read-data-subset");
    if (!percent) return Fail(percent.error());
    o.read_data_percent = *percent;
  }
  o.cancel = &GlobalCancel();
  ProgressLine line;
  o.progress = [&](const Progress& p) { line.Update(p); };
  auto r = Check(**repo, o);
  if (!r) return Fail(r.error());
  if (a.json) {
    json damaged = json::array();
    for (const DamagedChunk& d : r->damaged) {
      damaged.push_back({{"pack", d.pack},
                         {"chunk", d.chunk},
                         {"problem", d.problem},
                         {"snapshots", d.snapshots}});
    }
    PrintJson({{"ok", r->ok()},
               {"packs", r->packs},
               {"packs_read", r->packs_read},
               {"damaged", damaged},
               {"indexed_chunks", r->indexed_chunks},
               {"snapshots", r->snapshots},
               {"chunks_verified", r->chunks_verified},
               {"errors", r->errors},
               {"warnings", r->warnings}});
  } else {
    for (const auto& w : r->warnings) std::printf("warning: %s\n", w.c_str());
    for (const auto& e : r->errors) std::printf("error: %s\n", e.c_str());
    std::printf("%s: %lu packs, %lu indexed chunks, %lu snapshots%s\n",
                r->ok() ? "no errors" : fmt::format("{} error(s)", r->errors.size()).c_str(),
                static_cast<unsigned long>(r->packs), static_cast<unsigned long>(r->indexed_chunks),
                static_cast<unsigned long>(r->snapshots),
                o.read_data ? fmt::format(", {} chunks in {} packs read and verified",
                                          r->chunks_verified, r->packs_read)
                                  .c_str()
                            : "");
  }
  return r->ok() ? kExitOk : kExitFailure;
}

// --- stats ------------------------------------------------------------------------------

int RunStats(const ListArgs& a) {
  if (IsQcow2Layout(a.repo)) return RunLayoutStats(a);
  auto repo = OpenRepository(a.repo, false);
  if (!repo) return Fail(repo.error());
  auto lock = LockAndLoadIndex(**repo);
  if (!lock) return Fail(lock.error());
  auto list = (*repo)->ListSnapshots();
  if (!list) return Fail(list.error());
  auto packs = (*repo)->transport().List("data");
  if (!packs) return Fail(packs.error());
  uint64_t stored = 0, logical = 0, raw_unique = 0;
  for (const auto& p : *packs) stored += (*repo)->transport().Size(p).value_or(0);
  for (const auto& s : *list) {
    for (const auto& v : s.volumes) logical += v.size;
  }
  for (const auto& [id, loc] : (*repo)->index()) raw_unique += loc.raw_size;
  if (a.json) {
    PrintJson({{"snapshots", list->size()},
               {"packs", packs->size()},
               {"chunks", (*repo)->index_size()},
               {"logical_bytes", logical},
               {"unique_bytes", raw_unique},
               {"stored_bytes", stored}});
  } else {
    std::printf("snapshots:      %zu\n", list->size());
    std::printf("logical size:   %s (sum of every volume of every snapshot)\n",
                HumanBytes(static_cast<double>(logical)).c_str());
    std::printf("unique chunks:  %zu, %s\n", (*repo)->index_size(),
                HumanBytes(static_cast<double>(raw_unique)).c_str());
    std::printf("stored:         %s in %zu packs", HumanBytes(static_cast<double>(stored)).c_str(),
                packs->size());
    if (stored > 0)
      std::printf(" (%.2fx reduction)", static_cast<double>(logical) / static_cast<double>(stored));
    std::printf("\n");
  }
  return kExitOk;
}

}  // namespace

void RegisterRepoCommands(CLI::App& app, int* exit_code) {
  {
    auto a = std::make_shared<InitArgs>();
    CLI::App* c = app.add_subcommand("init", "Create a repository");
    AddRepoOptions(c, &a->repo);
    c->add_option("--encryption", a->encryption, "aes-256-gcm (default) or none");
    AddChunkerFlags(c, "--chunker", "262144", &a->chunker);
    c->add_option("--compression", a->compression, "zstd level 1-19, 0 for none (default 3)");
    c->add_option("--incremental-compression", a->incremental_compression,
                  "zstd level for backups with a parent (default 1, or --compression's)");
    c->add_option("--pack-size", a->pack_size_mib, "Target pack size in MiB (default 16)");
    c->add_option("--object-lock-days", a->object_lock_days,
                  "S3 only: keep every object written under Object Lock for N days (the bucket "
                  "must have been created with Object Lock)")
        ->check(CLI::Range(1u, repo::kMaxObjectLockDays));
    c->add_option("--object-lock-mode", a->object_lock_mode,
                  "compliance (default: nobody can delete early) or governance (users with "
                  "the bypass permission can)");
    c->add_option("--layout", a->layout,
                  "dedup (default: deduplicated, compressed, encrypted packs) or qcow2 (each "
                  "backup a plain QCOW2 overlay of the one before, readable by qemu-img)");
    c->add_option("--cluster-size", a->cluster_size, "qcow2 layout: cluster size (default 65536)");
    c->add_option("--compress", a->compress, "qcow2 layout: none (default), zstd or zlib clusters");
    c->add_option("--full-every", a->full_every,
                  "qcow2 layout: at most N images per backup chain; the next backup is a full "
                  "image (default and most: 1000)")
        ->check(CLI::Range(1u, qcow2_layout::kMaxChainImages));
    c->callback([a, c, exit_code] {
      for (const CLI::Option* opt : c->get_options()) {
        const std::string name = opt->get_name();
        if (opt->count() > 0 &&
            (name == "--encryption" || name == "--compression" ||
             name == "--incremental-compression" || name == "--pack-size" ||
             name.rfind("--chunker", 0) == 0 || name.rfind("--object-lock", 0) == 0)) {
          a->dedup_options_given = true;
        }
      }
      *exit_code = RunInit(*a);
    });
  }
  {
    auto a = std::make_shared<BackupArgs>();
    CLI::App* c = app.add_subcommand("backup", "Back up volumes (files, devices, - for stdin)");
    AddRepoOptions(c, &a->repo);
    c->add_option("sources", a->sources,
                  "What to back up: files, block devices, QCOW2 images, NBD URIs "
                  "(nbd://HOST/EXPORT, nbd+unix:///EXPORT?socket=PATH), - for stdin")
        ->required()
        ->check(kNonEmptyPath);
    c->add_option("--name", a->name, "Volume name (default: the file name; stdin for -)");
    c->add_option("--tag", a->tags, "Tag the snapshot (repeatable)")->allow_extra_args(false);
    c->add_option("--threads", a->threads, "Worker threads (default: cores)");
    c->add_option("--memory", a->memory_mib,
                  "MiB for data in flight (read-ahead and chunk queue; default 40, min 16)");
    c->add_option("--io-backend", a->io_backend, "auto (default), uring or psync")
        ->envname("FERRY_IO_BACKEND");
    c->add_option("--parent", a->parent,
                  "Incremental from SNAPSHOT, latest, or auto (the latest backup of the volume)");
    c->add_option("--cbt", a->cbt,
                  "What changed since the parent: list:FILE, csi:FILE, qcow2-bitmap:NAME (a "
                  "dirty bitmap of the QCOW2 source), nbd-bitmap:NAME (qemu:dirty-bitmap:NAME "
                  "of the NBD source), fiemap:PREVIOUS_COPY (a reflink copy of the parent's "
                  "state), or hash (the default with --parent: compare block hashes)");
    c->add_option("--source-format", a->source_format,
                  "auto (default: QCOW2 images are read as the guest sees them), raw or qcow2");
    c->add_option("--cbt-verify", a->cbt_verify,
                  "Re-read PERCENT of what the CBT calls unchanged; read in full on a mismatch");
    c->add_option("--compression", a->compression,
                  "zstd level 1-19 for what this backup stores, 0 for none (default: the "
                  "repository's, set by init)");
    c->add_flag("--full", a->full,
                "qcow2 layout: write full images, not overlays of the latest backups");
    c->add_flag("--json", a->json, "Print the result as JSON");
    c->callback([a, exit_code] { *exit_code = RunBackup(*a); });
  }
  {
    auto a = std::make_shared<ListArgs>();
    CLI::App* c = app.add_subcommand("snapshots", "List snapshots, oldest first");
    AddRepoOptions(c, &a->repo);
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([a, exit_code] { *exit_code = RunSnapshots(*a); });
  }
  {
    auto a = std::make_shared<RestoreArgs>();
    CLI::App* c = app.add_subcommand("restore", "Restore a volume: SNAPSHOT[:VOLUME]");
    AddRepoOptions(c, &a->repo);
    c->add_option("snapshot", a->what, "Snapshot id, unique id prefix, or latest[:VOLUME]")
        ->required();
    c->add_option("-t,--target", a->target, "File, block device, or - for stdout")
        ->required()
        ->check(kNonEmptyPath);
    c->add_flag("--overwrite", a->overwrite, "Replace an existing target file");
    c->add_flag("--delta", a->delta,
                "Rewrite an existing target in place, writing only the chunks that differ");
    c->add_option("--cbt", a->cbt,
                  "With --delta: the target's changes since the snapshot (list:FILE, csi:FILE); "
                  "only they are read and compared");
    c->add_option("--format", a->format,
                  "raw (default: the volume's bytes) or qcow2 (a new QCOW2 image file)");
    c->add_option("--compress", a->compress, "QCOW2: none (default), zstd or zlib clusters");
    c->add_option("--backing", a->backing,
                  "QCOW2: an overlay on this image (raw or QCOW2; relative to the target's "
                  "directory), holding only the clusters that differ");
    c->add_option("--cluster-size", a->cluster_size, "QCOW2: cluster size (default 65536)");
    c->add_option("--threads", a->threads, "Worker threads (default: cores)");
    c->add_flag("--json", a->json, "Print the result as JSON");
    c->callback([a, exit_code] { *exit_code = RunRestore(*a); });
  }
  {
    auto a = std::make_shared<CheckArgs>();
    CLI::App* c = app.add_subcommand("check", "Verify the repository");
    AddRepoOptions(c, &a->repo);
    c->add_flag("--read-data", a->read_data, "Also read, decrypt and verify every chunk");
    c->add_option("--read-data-subset", a->read_data_subset,
                  "Read and verify a random N% of the packs (implies --read-data)");
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([a, exit_code] { *exit_code = RunCheck(*a); });
  }
  {
    auto a = std::make_shared<ListArgs>();
    CLI::App* c = app.add_subcommand("stats", "Sizes: logical, unique and stored");
    AddRepoOptions(c, &a->repo);
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([a, exit_code] { *exit_code = RunStats(*a); });
  }
}

}  // namespace ferry::cli
