#include "tools/ferry/layout_commands.h"

#include <cstdio>

#include <fmt/format.h>

#include "cbt/cbt_spec.h"
#include "engine/image_store.h"
#include "tools/ferry/commands.h"
#include "tools/ferry/terminal.h"
#include "transports/uri.h"

namespace ferry::cli {

namespace {

using nlohmann::json;
using qcow2_layout::Sidecar;

// Says why a job does not start: a forget holds the directory (engine/layout_lock.h).
std::function<void()> SayWaiting(const ImageStore& store) {
  return [dir = store.dir()] { PrintError("waiting for a forget in " + dir + " to finish"); };
}

// The local directory --repo names: the qcow2 layout lives only where QEMU opens files.
// Errors: kInvalidArgument for a missing, malformed or non-local repository.
Result<std::string> RepoPath(const RepoArgs& args) {
  if (args.repo.empty()) {
    return Err(Status::InvalidArgument("no repository given: use --repo or set FERRY_REPO"));
  }
  FERRY_ASSIGN_OR_RETURN(TransportUri uri, ParseTransportUri(args.repo));
  if (uri.kind != TransportKind::kLocal) {
    return Err(Status::InvalidArgument(
        "repository URI '" + args.repo +
        "': the qcow2 layout keeps QCOW2 images in a local directory (or a kernel mount)"));
  }
  return uri.local_path;
}

Result<std::unique_ptr<ImageStore>> OpenStore(const RepoArgs& args) {
  FERRY_ASSIGN_OR_RETURN(std::string path, RepoPath(args));
  return ImageStore::Open(path);
}

// SNAPSHOT[:VOLUME] → the snapshot and the volume ("" when not given).
Result<std::pair<ImageSnapshot, std::string>> Resolve(ImageStore& store, const std::string& what) {
  std::string spec = what, volume;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    volume = spec.substr(colon + 1);
    spec = spec.substr(0, colon);
  }
  FERRY_ASSIGN_OR_RETURN(ImageSnapshot snap, store.ResolveSnapshot(spec));
  return std::make_pair(std::move(snap), volume);
}

json VolumeJson(const Sidecar& v) {
  json vol = {{"name", v.volume},
              {"source", v.source},
              {"source_format", v.source_format},
              {"size", v.size},
              {"image", std::string(qcow2_layout::kVolumesDir) + "/" + v.volume + "/" +
                            qcow2_layout::ImageName(v.id)}};
  if (const auto& inc = v.incremental) {
    vol["incremental"] = {{"parent", inc->parent.ToHex()},
                          {"cbt", inc->cbt},
                          {"changed_bytes", inc->changed_bytes},
                          {"fell_back", inc->fell_back}};
    if (inc->verify_percent != 0) {
      vol["incremental"]["verify_percent"] = inc->verify_percent;
      vol["incremental"]["verified_bytes"] = inc->verified_bytes;
      vol["incremental"]["mismatches"] = inc->mismatches;
    }
  }
  return vol;
}

}  // namespace

bool IsQcow2Layout(const RepoArgs& args) {
  auto path = RepoPath(args);
  return path.has_value() && ImageStore::IsImageStore(*path);
}

int RunLayoutInit(const InitArgs& a) {
  if (a.dedup_options_given) {
    return Fail(Status::InvalidArgument(
        "--layout qcow2 keeps plain QCOW2 images: --encryption, --chunker*, --compression, "
        "--pack-size and --object-lock-* belong to the deduplicated layout (use --compress and "
        "--cluster-size)"));
  }
  qcow2_layout::LayoutConfig config;
  auto compression = ParseQcow2Compression(a.compress);
  if (!compression) return Fail(compression.error());
  config.compression = *compression;
  auto bits = ParseClusterSize(a.cluster_size, 12);
  if (!bits) return Fail(bits.error());
  config.cluster_bits = *bits;
  config.full_every = a.full_every;
  auto path = RepoPath(a.repo);
  if (!path) return Fail(path.error());
  auto store = ImageStore::Init(*path, config);
  if (!store) return Fail(store.error());
  std::fprintf(stderr,
               "ferry: created repository %s at %s (qcow2 layout: %s clusters, compression %s; "
               "not encrypted, not deduplicated)\n",
               Short((*store)->config().id).c_str(), a.repo.repo.c_str(),
               HumanBytes(static_cast<double>(a.cluster_size)).c_str(), a.compress.c_str());
  return kExitOk;
}

int RunLayoutBackup(const BackupArgs& a) {
  if (!a.name.empty() && a.sources.size() > 1) {
    return Fail(Status::InvalidArgument("--name names a single source"));
  }
  if (!a.parent.empty() && a.parent != "auto" && a.parent != "latest") {
    return Fail(Status::InvalidArgument(
        "--parent " + a.parent +
        ": in the qcow2 layout every backup is an overlay of the volume's latest backup"));
  }
  if (a.compression) {
    return Fail(Status::InvalidArgument(
        "--compression: a qcow2-layout repository compresses as its init --compress says"));
  }
  if (!a.cbt.empty() && a.sources.size() > 1) {
    return Fail(Status::InvalidArgument("--cbt describes one volume: back up one source"));
  }
  auto format = qcow2::ParseImageFormat(a.source_format);
  if (!format) return Fail(format.error());
  std::vector<ImageBackupSource> sources;
  for (const std::string& path : a.sources) {
    ImageBackupSource s;
    s.path = path;
    s.name = a.name;
    s.format = *format;
    sources.push_back(std::move(s));
  }
  // The change source is read and checked before anything is written; "hash" is the default.
  if (!a.cbt.empty()) {
    auto spec = cbt::ParseCbtSpec(a.cbt);
    if (!spec) return Fail(spec.error());
    if (spec->kind != cbt::CbtKind::kHash) {
      auto changes = cbt::LoadChangedBlocks(*spec, a.sources.front(), &GlobalCancel());
      if (!changes) return Fail(changes.error());
      sources.front().changes = std::move(*changes);
      sources.front().cbt = spec->ToString();
    }
  }
  auto store = OpenStore(a.repo);
  if (!store) return Fail(store.error());
  ImageBackupOptions o;
  o.tags = a.tags;
  o.threads = a.threads;
  o.full = a.full;
  o.cbt_verify_percent = a.cbt_verify;
  o.cancel = &GlobalCancel();
  o.waiting = SayWaiting(**store);
  ProgressLine line;
  o.progress = [&](const Progress& p) { line.Update(p); };
  auto r = (*store)->Backup(sources, o);
  if (!r) return Fail(r.error());
  for (const std::string& w : r->warnings) PrintError("WARNING: " + w);
  for (const std::string& n : r->notes) PrintError("note: " + n);
  uint64_t logical = 0;
  for (const Sidecar& v : r->volumes) logical += v.size;
  if (a.json) {
    json vols = json::array();
    for (size_t i = 0; i < r->volumes.size(); ++i) {
      const Sidecar& v = r->volumes[i];
      json vol = VolumeJson(v);
      vol["backing"] = r->backing[i].empty() ? json(nullptr) : json(r->backing[i]);
      vol["bytes_read"] = v.stats.bytes_read;
      vol["clusters"] = v.stats.clusters;
      vol["bytes_written"] = v.stats.bytes_written;
      vols.push_back(std::move(vol));
    }
    PrintJson({{"snapshot", r->id.ToHex()},
               {"layout", "qcow2"},
               {"size", logical},
               {"volumes", vols},
               {"io_backend", r->io_backend},
               {"notes", r->notes},
               {"seconds", r->seconds}});
    return kExitOk;
  }
  std::printf("snapshot %s saved\n", Short(r->id).c_str());
  for (size_t i = 0; i < r->volumes.size(); ++i) {
    const Sidecar& v = r->volumes[i];
    std::printf("  %s: %s, %s; read %s, wrote %llu clusters (%s)\n", v.volume.c_str(),
                HumanBytes(static_cast<double>(v.size)).c_str(),
                r->backing[i].empty() ? "full image" : ("overlay of " + r->backing[i]).c_str(),
                HumanBytes(static_cast<double>(v.stats.bytes_read)).c_str(),
                static_cast<unsigned long long>(v.stats.clusters),
                HumanBytes(static_cast<double>(v.stats.bytes_written)).c_str());
    std::printf("    %s/%s/%s/%s\n", (*store)->dir().c_str(),
                std::string(qcow2_layout::kVolumesDir).c_str(), v.volume.c_str(),
                qcow2_layout::ImageName(v.id).c_str());
  }
  std::printf("  %.2f s, %s (of the volume size)\n", r->seconds,
              HumanRate(static_cast<double>(logical), r->seconds).c_str());
  return kExitOk;
}

int RunLayoutSnapshots(const ListArgs& a) {
  auto store = OpenStore(a.repo);
  if (!store) return Fail(store.error());
  auto list = (*store)->ListSnapshots();
  if (!list) return Fail(list.error());
  if (a.json) {
    json out = json::array();
    for (const ImageSnapshot& s : *list) {
      json vols = json::array();
      for (const Sidecar& v : s.volumes) vols.push_back(VolumeJson(v));
      out.push_back({{"id", s.id.ToHex()},
                     {"time", s.time},
                     {"hostname", s.volumes.front().hostname},
                     {"tags", s.volumes.front().tags},
                     {"volumes", vols}});
    }
    PrintJson(out);
    return kExitOk;
  }
  std::printf("%-8s  %-27s  %-16s  %-40s  %s\n", "ID", "TIME", "HOST", "VOLUMES", "TAGS");
  for (const ImageSnapshot& s : *list) {
    std::string vols, tags;
    for (const Sidecar& v : s.volumes) {
      vols += (vols.empty() ? "" : ", ") + v.volume + " (" +
              HumanBytes(static_cast<double>(v.size)) +
              (v.incremental ? ", +" + HumanBytes(static_cast<double>(v.stats.bytes_written))
                             : ", full") +
              ")";
    }
    for (const auto& t : s.volumes.front().tags) tags += (tags.empty() ? "" : ",") + t;
    std::printf("%-8s  %-27s  %-16s  %-40s  %s\n", Short(s.id).c_str(), s.time.c_str(),
                s.volumes.front().hostname.c_str(), vols.c_str(), tags.c_str());
  }
  std::printf("%zu snapshot(s)\n", list->size());
  return kExitOk;
}

int RunLayoutRestore(const RestoreArgs& a) {
  if (a.target == "-") {
    return Fail(Status::InvalidArgument(
        "the qcow2 layout restores to a file or device (or read it with qemu-img directly)"));
  }
  auto qcow2 = Qcow2Options(a);
  if (!qcow2) return Fail(qcow2.error());
  auto store = OpenStore(a.repo);
  if (!store) return Fail(store.error());
  auto what = Resolve(**store, a.what);
  if (!what) return Fail(what.error());
  auto changes = TargetChanges(a);
  if (!changes) return Fail(changes.error());
  ImageRestoreOptions o;
  o.overwrite = a.overwrite;
  o.qcow2 = *qcow2;
  o.delta = a.delta;
  o.target_changes = std::move(*changes);
  o.threads = a.threads;
  o.cancel = &GlobalCancel();
  o.waiting = SayWaiting(**store);
  ProgressLine line;
  o.progress = [&](const Progress& p) { line.Update(p); };
  auto r = (*store)->Restore(what->first, what->second, a.target, o);
  if (!r) return Fail(r.error());
  if (a.json) {
    PrintJson({{"snapshot", what->first.id.ToHex()},
               {"target", a.target},
               {"size", r->size},
               {"delta", a.delta},
               {"bytes_read", r->bytes_read},
               {"bytes_written", r->bytes_written},
               {"bytes_compared", r->bytes_compared},
               {"format", a.format},
               {"clusters", r->clusters},
               {"seconds", r->seconds}});
  } else if (a.delta) {
    std::printf("delta-restored %s of snapshot %s to %s in %.2f s (%s): compared %s, wrote %s\n",
                HumanBytes(static_cast<double>(r->size)).c_str(), Short(what->first.id).c_str(),
                a.target.c_str(), r->seconds,
                HumanRate(static_cast<double>(r->size), r->seconds).c_str(),
                HumanBytes(static_cast<double>(r->bytes_compared)).c_str(),
                HumanBytes(static_cast<double>(r->bytes_written)).c_str());
  } else {
    std::printf("restored %s of snapshot %s to %s%s in %.2f s (%s)\n",
                HumanBytes(static_cast<double>(r->size)).c_str(), Short(what->first.id).c_str(),
                a.target.c_str(), qcow2->has_value() ? " (QCOW2)" : "", r->seconds,
                HumanRate(static_cast<double>(r->size), r->seconds).c_str());
  }
  return kExitOk;
}

int RunLayoutForget(const ForgetArgs& a) {
  auto store = OpenStore(a.repo);
  if (!store) return Fail(store.error());
  // Everything named is resolved before anything is forgotten.
  std::vector<std::pair<ImageSnapshot, std::string>> targets;
  for (const std::string& what : a.snapshots) {
    auto t = Resolve(**store, what);
    if (!t) return Fail(t.error());
    targets.push_back(std::move(*t));
  }
  ImageJobOptions o;
  o.cancel = &GlobalCancel();
  ProgressLine line;
  o.progress = [&](const Progress& p) { line.Update(p); };
  ForgetResult total;
  if (targets.empty()) {
    auto r = (*store)->Forget({}, "", o);  // Only finish interrupted work.
    if (!r) return Fail(r.error());
    total = std::move(*r);
  }
  for (const auto& [snap, volume] : targets) {
    auto r = (*store)->Forget({snap}, volume, o);
    if (!r) return Fail(r.error());
    total.forgotten.insert(total.forgotten.end(), r->forgotten.begin(), r->forgotten.end());
    total.merged += r->merged;
    total.removed += r->removed;
  }
  if (a.json) {
    PrintJson(
        {{"forgotten", total.forgotten}, {"merged", total.merged}, {"removed", total.removed}});
  } else {
    for (const std::string& f : total.forgotten) std::printf("forgot %s\n", f.c_str());
    std::printf(
        "%zu volume snapshot(s) forgotten; %llu image(s) merged into their successors, "
        "%llu file(s) removed\n",
        total.forgotten.size(), static_cast<unsigned long long>(total.merged),
        static_cast<unsigned long long>(total.removed));
  }
  return kExitOk;
}

int RunLayoutCheck(const CheckArgs& a) {
  auto store = OpenStore(a.repo);
  if (!store) return Fail(store.error());
  ImageJobOptions o;
  o.cancel = &GlobalCancel();
  o.waiting = SayWaiting(**store);
  auto r = (*store)->Check(a.read_data, o);
  if (!r) return Fail(r.error());
  if (a.json) {
    PrintJson({{"ok", r->ok()},
               {"layout", "qcow2"},
               {"snapshots", r->snapshots},
               {"images", r->images},
               {"bytes_read", r->bytes_read},
               {"errors", r->errors},
               {"warnings", r->warnings}});
  } else {
    for (const auto& w : r->warnings) std::printf("warning: %s\n", w.c_str());
    for (const auto& e : r->errors) std::printf("error: %s\n", e.c_str());
    std::printf("%s: %llu volume snapshots, %llu images%s\n",
                r->ok() ? "no errors" : fmt::format("{} error(s)", r->errors.size()).c_str(),
                static_cast<unsigned long long>(r->snapshots),
                static_cast<unsigned long long>(r->images),
                a.read_data ? fmt::format(", {} read through every chain",
                                          HumanBytes(static_cast<double>(r->bytes_read)))
                                  .c_str()
                            : "");
  }
  return r->ok() ? kExitOk : kExitFailure;
}

int RunLayoutStats(const ListArgs& a) {
  auto store = OpenStore(a.repo);
  if (!store) return Fail(store.error());
  auto st = (*store)->Stats();
  if (!st) return Fail(st.error());
  if (a.json) {
    PrintJson({{"snapshots", st->snapshots},
               {"layout", "qcow2"},
               {"images", st->images},
               {"logical_bytes", st->logical_bytes},
               {"stored_bytes", st->stored_bytes}});
  } else {
    std::printf("snapshots:      %llu (qcow2 layout)\n",
                static_cast<unsigned long long>(st->snapshots));
    std::printf("logical size:   %s (sum of every volume of every snapshot)\n",
                HumanBytes(static_cast<double>(st->logical_bytes)).c_str());
    std::printf("stored:         %s in %llu images",
                HumanBytes(static_cast<double>(st->stored_bytes)).c_str(),
                static_cast<unsigned long long>(st->images));
    if (st->stored_bytes > 0) {
      std::printf(" (%.2fx reduction)",
                  static_cast<double>(st->logical_bytes) / static_cast<double>(st->stored_bytes));
    }
    std::printf("\n");
  }
  return kExitOk;
}

}  // namespace ferry::cli
