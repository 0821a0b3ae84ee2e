#include "engine/image_store.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"
#include "common/origin.h"

#include "cbt/allocation.h"
#include "engine/backup.h"
#include "engine/guest_copy.h"
#include "engine/io/file_handle.h"
#include "engine/layout_lock.h"
#include "engine/restore_target.h"
#include "engine/unchanged_sample.h"
#include "engine/volume_source.h"
#include "formats/qcow2/qcow2_image.h"
#include "formats/qcow2/refcount_check.h"
#include "transports/local/local_transport.h"

namespace ferry {

namespace fs = std::filesystem;
using qcow2_layout::Sidecar;

namespace {

std::string Short(const repo::ObjectId& id) { return id.ToHex().substr(0, 8); }

bool Older(const Sidecar& a, const Sidecar& b) {
  return a.time != b.time ? a.time < b.time : a.id < b.id;
}

// Sorted union of two sorted range lists, merged.
cbt::ExtentList Union(cbt::ExtentList a, const cbt::ExtentList& b) {
  a.insert(a.end(), b.begin(), b.end());
  return cbt::Normalize(std::move(a));
}

// `ranges` cut at `size`.
cbt::ExtentList ClipTo(cbt::ExtentList ranges, uint64_t size) {
  cbt::ExtentList out;
  for (const cbt::ByteRange& r : ranges) {
    if (r.offset >= size) break;
    out.push_back({r.offset, std::min(r.end(), size) - r.offset});
  }
  return out;
}

// The backing file an image's header names ("" for none), read without opening the chain.
Result<std::string> BackingOf(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(auto file, qcow2::OpenImageFile(path));
  FERRY_ASSIGN_OR_RETURN(auto image, qcow2::Qcow2Image::Open(std::move(file)));
  return image->header().backing_file;
}

// The guest ranges that one image (not its chain) allocates: data, compressed or zero clusters.
Result<cbt::ExtentList> OwnClusters(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(auto file, qcow2::OpenImageFile(path));
  FERRY_ASSIGN_OR_RETURN(auto image, qcow2::Qcow2Image::Open(std::move(file)));
  cbt::ExtentList out;
  FERRY_RETURN_IF_ERROR(image->ForEachMapping(0, image->size(), [&](const qcow2::Mapping& m) {
    if (m.kind == qcow2::ClusterKind::kUnallocated) return Status();
    if (!out.empty() && out.back().end() == m.offset) {
      out.back().length += m.length;
    } else {
      out.push_back({m.offset, m.length});
    }
    return Status();
  }));
  return out;
}

// A reader factory over an image chain: each worker opens its own (images cache tables).
GuestReaderFactory ImageReaders(const std::string& path) {
  return [path]() -> Result<GuestReadFn> {
    FERRY_ASSIGN_OR_RETURN(auto image, qcow2::OpenImage(path));
    std::shared_ptr<qcow2::Image> shared(std::move(image));
    return GuestReadFn(
        [shared](MutableByteView out, uint64_t offset) { return shared->Read(out, offset); });
  };
}

// Renames `from` over `to` and makes it durable.
Status Publish(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Status::FromErrno(errno, "rename " + to);
  return FsyncDirectory(fs::path(to).parent_path().string());
}

// Removes `path` (if there) and makes that durable.
Status RemoveDurably(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status();
    return Status::FromErrno(errno, "remove " + path);
  }
  return FsyncDirectory(fs::path(path).parent_path().string());
}

ProgressFn Offset(const ProgressFn& progress, uint64_t before, uint64_t total) {
  if (!progress) return nullptr;
  return [progress, before, total](const Progress& p) {
    if (!p.done) progress({before + p.bytes_done, total, p.seconds, false});
  };
}

}  // namespace

// --- opening ------------------------------------------------------------------------------

Result<std::unique_ptr<ImageStore>> ImageStore::Init(const std::string& dir,
                                                     qcow2_layout::LayoutConfig config) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Err(Status::FromErrno(ec.value(), "create " + dir));
  if (!fs::is_empty(dir, ec)) {
    return Err(
        Status::AlreadyExists(dir + " is not empty: a repository needs a directory of its own"));
  }
  FERRY_ASSIGN_OR_RETURN(config.id, repo::NewObjectId());
  FERRY_ASSIGN_OR_RETURN(auto transport, LocalTransport::Open(dir));
  FERRY_RETURN_IF_ERROR(
      transport->Put(qcow2_layout::kConfigName, AsBytes(qcow2_layout::EncodeConfig(config)), true));
  fs::create_directories(fs::path(dir) / qcow2_layout::kVolumesDir, ec);
  if (ec) return Err(Status::FromErrno(ec.value(), "create " + dir + "/volumes"));
  FERRY_RETURN_IF_ERROR(FsyncDirectory(dir));
  return std::unique_ptr<ImageStore>(new ImageStore(dir, std::move(transport), config));
}

Result<std::unique_ptr<ImageStore>> ImageStore::Open(const std::string& dir) {
  auto transport = LocalTransport::Open(dir);
  auto text = transport ? (*transport)->Get(qcow2_layout::kConfigName) : Err(transport.error());
  if (!text) {
    if (text.error().IsNotFound()) return Err(Status::NotFound("no ferry repository at " + dir));
    return Err(text.error());
  }
  FERRY_ASSIGN_OR_RETURN(auto config, qcow2_layout::DecodeConfig(*text));
  return std::unique_ptr<ImageStore>(new ImageStore(dir, std::move(*transport), config));
}

bool ImageStore::IsImageStore(const std::string& dir) {
  auto transport = LocalTransport::Open(dir);
  if (!transport) return false;
  auto text = (*transport)->Get(qcow2_layout::kConfigName);
  return text.has_value() && qcow2_layout::IsLayoutConfig(*text);
}

std::string ImageStore::VolumeDir(std::string_view volume) const {
  return (fs::path(dir_) / qcow2_layout::kVolumesDir / std::string(volume)).string();
}

std::string ImageStore::ImagePath(std::string_view volume, const repo::ObjectId& id) const {
  return VolumeDir(volume) + "/" + qcow2_layout::ImageName(id);
}

Result<std::vector<std::string>> ImageStore::ListVolumes() const {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path base = fs::path(dir_) / qcow2_layout::kVolumesDir;
  for (auto it = fs::directory_iterator(base, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->is_directory()) out.push_back(it->path().filename().string());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Err(Status::FromErrno(ec.value(), "list " + base.string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<Sidecar>> ImageStore::LoadSidecars(std::string_view volume) const {
  std::vector<Sidecar> out;
  std::error_code ec;
  const std::string dir = VolumeDir(volume);
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!qcow2_layout::IdOfSidecar(name)) continue;
    FERRY_ASSIGN_OR_RETURN(std::string text, transport_->Get(SidecarObject(volume, name)));
    FERRY_ASSIGN_OR_RETURN(Sidecar s, qcow2_layout::DecodeSidecar(text, name));
    if (s.volume != volume) {
      return Err(Status::Corruption(
          fmt::format("{}/{}: names volume '{}', but lies in '{}'", dir, name, s.volume, volume)));
    }
    out.push_back(std::move(s));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Err(Status::FromErrno(ec.value(), "list " + dir));
  }
  std::sort(out.begin(), out.end(), Older);
  return out;
}

std::string ImageStore::SidecarObject(std::string_view volume, std::string_view file) {
  return std::string(qcow2_layout::kVolumesDir) + "/" + std::string(volume) + "/" +
         std::string(file);
}

Status ImageStore::PublishSidecar(const Sidecar& sidecar) const {
  return transport_->Put(SidecarObject(sidecar.volume, qcow2_layout::SidecarName(sidecar.id)),
                         AsBytes(qcow2_layout::EncodeSidecar(sidecar)), true);
}

// --- snapshots ----------------------------------------------------------------------------

Result<std::vector<ImageSnapshot>> ImageStore::ListSnapshots() {
  std::map<repo::ObjectId, ImageSnapshot> by_id;
  FERRY_ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  for (const std::string& volume : volumes) {
    FERRY_ASSIGN_OR_RETURN(auto sidecars, LoadSidecars(volume));
    for (Sidecar& s : sidecars) {
      ImageSnapshot& snap = by_id[s.id];
      snap.id = s.id;
      snap.time = std::max(snap.time, s.time);
      snap.volumes.push_back(std::move(s));
    }
  }
  std::vector<ImageSnapshot> out;
  for (auto& [id, snap] : by_id) out.push_back(std::move(snap));
  std::sort(out.begin(), out.end(), [](const ImageSnapshot& a, const ImageSnapshot& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
  return out;
}

Result<ImageSnapshot> ImageStore::ResolveSnapshot(std::string_view spec) {
  FERRY_ASSIGN_OR_RETURN(auto all, ListSnapshots());
  if (spec == "latest") {
    if (all.empty()) return Err(Status::NotFound("the repository has no snapshots"));
    return all.back();
  }
  std::vector<const ImageSnapshot*> matches;
  for (const ImageSnapshot& s : all) {
    if (!spec.empty() && s.id.ToHex().rfind(spec, 0) == 0) matches.push_back(&s);
  }
  if (matches.empty()) return Err(Status::NotFound(fmt::format("no snapshot matches '{}'", spec)));
  if (matches.size() > 1) {
    return Err(Status::InvalidArgument(
        fmt::format("'{}' matches {} snapshots; give more of the id", spec, matches.size())));
  }
  return *matches.front();
}

// --- backup -------------------------------------------------------------------------------

namespace {

// How many images the chain of `image` holds, itself included.
uint32_t ChainLength(const qcow2::Image& image) {
  uint32_t n = 0;
  for (const qcow2::Image* i = &image; i != nullptr;) {
    ++n;
    const auto* q = dynamic_cast<const qcow2::Qcow2Image*>(i);
    i = q != nullptr ? q->backing() : nullptr;
  }
  return n;
}

}  // namespace

Result<ImageBackupResult> ImageStore::Backup(const std::vector<ImageBackupSource>& sources,
                                             const ImageBackupOptions& options) {
  if (sources.empty()) return Err(Status::InvalidArgument("nothing to back up"));
  if (!(options.cbt_verify_percent >= 0 && options.cbt_verify_percent <= 100)) {
    return Err(Status::InvalidArgument("--cbt-verify takes a percentage from 0 to 100"));
  }
  FERRY_ASSIGN_OR_RETURN(const LayoutLock layout_lock,
                         LayoutLock::Acquire(dir_, LayoutLock::Kind::kShared, "backup",
                                             options.cancel, options.waiting));
  ProgressTicker ticker;
  // Everything is opened and checked before anything is written.
  struct Plan {
    const ImageBackupSource* source;
    std::string volume;
    std::unique_ptr<VolumeSource> reader;
    std::optional<Sidecar> parent;
    cbt::ExtentList ranges;
    std::optional<qcow2_layout::IncrementalInfo> incremental;
  };
  ImageBackupResult result;
  std::vector<Plan> plans;
  DistinctVolumeNames names;
  for (const ImageBackupSource& s : sources) {
    Plan p{&s, VolumeName(BackupSource(s.path, s.name)), nullptr, std::nullopt, {}, std::nullopt};
    const std::string& volume = p.volume;
    FERRY_RETURN_IF_ERROR(qcow2_layout::CheckVolumeName(volume));
    FERRY_RETURN_IF_ERROR(names.Add(s.path, volume));
    VolumeSourceOptions vo;
    vo.format = s.format;
    vo.cancel = options.cancel;
    FERRY_ASSIGN_OR_RETURN(p.reader, VolumeSource::Open(s.path, vo));
    if (p.reader->is_pipe()) {
      return Err(Status::InvalidArgument(
          s.path +
          ": the qcow2 layout needs a file, device or NBD export, not a pipe (an "
          "image's size is fixed before its first byte is written)"));
    }
    const uint64_t size = p.reader->size();
    FERRY_ASSIGN_OR_RETURN(auto earlier, LoadSidecars(volume));
    if (!earlier.empty()) p.parent = earlier.back();
    if (options.full) p.parent.reset();
    // The parent's image, opened once: its chain's length here, its data ranges below.
    std::unique_ptr<qcow2::Image> parent_image;
    if (p.parent) {
      FERRY_ASSIGN_OR_RETURN(parent_image, qcow2::OpenImage(ImagePath(volume, p.parent->id)));
      // Long chains read slowly and, past a reader's depth limit, not at all: start anew.
      const uint32_t limit =
          config_.full_every != 0 ? config_.full_every : qcow2_layout::kMaxChainImages;
      if (const uint32_t chain = ChainLength(*parent_image); chain >= limit) {
        result.notes.push_back(fmt::format(
            "{}: a full image: the chain of the latest backup holds {} image(s), the most a "
            "chain may hold here{}",
            volume, chain, config_.full_every != 0 ? " (init --full-every)" : ""));
        p.parent.reset();
      }
    }
    if (!p.parent && s.changes) {
      result.notes.push_back(fmt::format("{}: {} not used: a full image reads every range", volume,
                                         s.cbt.empty() ? "the change source" : s.cbt));
    }
    if (s.changes) FERRY_RETURN_IF_ERROR(cbt::ValidateForVolume(*s.changes, size, s.cbt));
    FERRY_ASSIGN_OR_RETURN(cbt::ExtentList data, p.reader->DataRanges());
    if (!p.parent) {
      p.ranges = std::move(data);  // A full image of what the source holds.
    } else {
      qcow2_layout::IncrementalInfo inc;
      inc.parent = p.parent->id;
      const bool trusted = s.changes && s.changes->untrusted.empty();
      if (trusted) {
        inc.cbt = s.cbt;
        for (const auto& r : s.changes->ranges) inc.changed_bytes += r.length;
        p.ranges = s.changes->ranges;
        // A volume that grew: what lies past the parent's end is new whatever the CBT says.
        if (size > p.parent->size) {
          p.ranges = Union(std::move(p.ranges), {{p.parent->size, size - p.parent->size}});
        }
        if (options.cbt_verify_percent > 0) {
          // What either version holds, where both exist; the change source calls some of it
          // unchanged, and a sample of that must read the same in the previous backup.
          FERRY_ASSIGN_OR_RETURN(cbt::ExtentList old, parent_image->DataRanges());
          const cbt::ExtentList either = ClipTo(Union(data, old), std::min(size, p.parent->size));
          FERRY_ASSIGN_OR_RETURN(
              UnchangedSample sample,
              CompareUnchangedClusters(
                  either, cbt::Normalize(p.ranges), uint64_t{1} << config_.cluster_bits,
                  options.cbt_verify_percent, SourceReaders(*p.reader),
                  ImageReaders(ImagePath(volume, p.parent->id)), options.cancel));
          inc.verify_percent = options.cbt_verify_percent;
          inc.verified_bytes = sample.bytes;
          inc.mismatches = sample.mismatches;
          if (sample.mismatches > 0) {
            inc.fell_back = true;
            result.warnings.push_back(fmt::format(
                "the change source {} is wrong: {} of the {} sampled unchanged clusters of {} "
                "differ from the previous backup; every cluster was compared instead",
                s.cbt, sample.mismatches, sample.compared, s.path));
            p.ranges = Union(std::move(data), ClipTo(std::move(old), size));
          }
        }
      } else {
        if (s.changes) {
          inc.fell_back = true;
          result.warnings.push_back(fmt::format(
              "{}: not trusted ({}): comparing every cluster with the previous backup instead",
              s.cbt, s.changes->untrusted));
        }
        inc.cbt = s.changes ? s.cbt : "hash";
        // Every cluster that holds data now or held it before may differ.
        FERRY_ASSIGN_OR_RETURN(cbt::ExtentList old, parent_image->DataRanges());
        p.ranges = Union(std::move(data), ClipTo(std::move(old), size));
      }
      p.incremental = std::move(inc);
    }
    plans.push_back(std::move(p));
  }

  FERRY_ASSIGN_OR_RETURN(result.id, repo::NewObjectId());
  const std::string time = NowRfc3339();
  const std::string hostname = options.hostname.empty() ? LocalHostname() : options.hostname;
  uint64_t total = 0;
  for (const Plan& p : plans) {
    total += BytesToCopy(p.ranges, p.reader->size(), uint64_t{1} << config_.cluster_bits);
  }
  // The images first; a failure removes those already written (they have no sidecars yet).
  std::vector<std::string> written;
  auto undo = [&](const Status& s) {
    for (const std::string& path : written) ::unlink(path.c_str());
    return s;
  };
  uint64_t done = 0;
  for (Plan& p : plans) {
    const std::string& volume = p.volume;
    std::error_code ec;
    fs::create_directories(VolumeDir(volume), ec);
    if (ec) return Err(undo(Status::FromErrno(ec.value(), "create " + VolumeDir(volume))));
    if (Status s = FsyncDirectory(fs::path(VolumeDir(volume)).parent_path().string()); !s.ok()) {
      return Err(undo(s));
    }
    const std::string image = ImagePath(volume, result.id);
    const std::string partial = image + std::string(qcow2_layout::kPartialSuffix);
    GuestCopyOptions o;
    Qcow2ExportOptions q;
    q.cluster_bits = config_.cluster_bits;
    q.compression = config_.compression;
    if (p.parent) q.backing = qcow2_layout::ImageName(p.parent->id);
    q.only_dirty_clusters = true;
    o.qcow2 = q;
    o.threads = options.threads;
    o.cancel = options.cancel;
    o.progress = Offset(options.progress, done, total);
    auto copied = CopyGuestRanges(partial, p.reader->size(), p.ranges, SourceReaders(*p.reader), o);
    if (!copied) return Err(undo(copied.error().WithContext(volume)));
    written.push_back(image);
    if (Status s = Publish(partial, image); !s.ok()) return Err(undo(s));
    done += copied->bytes_read;

    Sidecar sc;
    sc.id = result.id;
    sc.time = time;
    sc.hostname = hostname;
    sc.tags = options.tags;
    sc.volume = volume;
    sc.source = p.source->path;
    sc.source_format = std::string(p.reader->format());
    sc.size = p.reader->size();
    sc.incremental = p.incremental;
    sc.stats.bytes_read = copied->bytes_read;
    sc.stats.clusters = copied->clusters;
    sc.stats.bytes_written = copied->bytes_written;
    sc.stats.seconds = copied->seconds;
    result.volumes.push_back(std::move(sc));
    result.backing.push_back(q.backing);
    result.io_backend = copied->io_backend;
  }
  // Then the sidecars: each volume's snapshot exists from the moment its sidecar does.
  for (const Sidecar& sc : result.volumes) {
    if (Status s = PublishSidecar(sc); !s.ok()) return Err(undo(s));
  }
  result.seconds = ticker.seconds();
  if (options.progress) options.progress({total, total, result.seconds, true});
  return result;
}

// --- restore ------------------------------------------------------------------------------

Result<ImageRestoreResult> ImageStore::Restore(const ImageSnapshot& snapshot,
                                               const std::string& volume, const std::string& target,
                                               const ImageRestoreOptions& options) {
  FERRY_ASSIGN_OR_RETURN(const LayoutLock layout_lock,
                         LayoutLock::Acquire(dir_, LayoutLock::Kind::kShared, "restore",
                                             options.cancel, options.waiting));
  const Sidecar* sc = nullptr;
  std::string names;
  for (const Sidecar& v : snapshot.volumes) {
    names += (names.empty() ? "" : ", ") + v.volume;
    if (volume.empty() ? snapshot.volumes.size() == 1 : v.volume == volume) sc = &v;
  }
  if (sc == nullptr) {
    return Err(Status::NotFound(
        volume.empty() ? fmt::format("snapshot {} has {} volumes ({}): name one as "
                                     "SNAPSHOT:VOLUME",
                                     Short(snapshot.id), snapshot.volumes.size(), names)
                       : fmt::format("snapshot {} has no volume '{}' (it has: {})",
                                     Short(snapshot.id), volume, names)));
  }
  if (options.qcow2 && !options.qcow2->backing.empty()) {
    return Err(Status::InvalidArgument(
        "a restore out of the qcow2 layout writes a standalone image (no --backing): the "
        "layout's own images are the overlays"));
  }
  // The snapshot was listed before the lock: a forget may have run in between.
  if (!fs::exists(VolumeDir(sc->volume) + "/" + qcow2_layout::SidecarName(sc->id))) {
    return Err(Status::NotFound(fmt::format("snapshot {} of volume {} was forgotten meanwhile",
                                            Short(snapshot.id), sc->volume)));
  }
  const std::string path = ImagePath(sc->volume, sc->id);
  FERRY_ASSIGN_OR_RETURN(auto image, qcow2::OpenImage(path));
  if (image->size() != sc->size) {
    return Err(Status::Corruption(
        fmt::format("{} holds {} bytes; its sidecar says {}", path, image->size(), sc->size)));
  }
  struct stat st {};
  const bool exists = ::stat(target.c_str(), &st) == 0;
  const bool device = exists && S_ISBLK(st.st_mode);
  // A delta target is checked where it is opened (CopyGuestRanges).
  if (!options.delta) {
    FERRY_RETURN_IF_ERROR(CheckNewTarget(target, exists, st, options.overwrite));
    if (exists && !device && ::unlink(target.c_str()) != 0) {
      return Err(Status::FromErrno(errno, "remove " + target));
    }
  }
  cbt::ExtentList ranges;
  const auto had = static_cast<uint64_t>(st.st_size);  // A delta target file's bytes.
  if (options.delta && options.target_changes) {
    // Only where the target changed since it held this snapshot, and what a file lacks.
    ranges = ClipTo(cbt::Normalize(*options.target_changes), sc->size);
    if (!device && had < sc->size) ranges = Union(std::move(ranges), {{had, sc->size - had}});
  } else if (options.delta && exists && !device) {
    // Where both the file and the snapshot hold nothing, both read zeros: compare the rest.
    FERRY_ASSIGN_OR_RETURN(io::FileHandle file, io::FileHandle::Open(target, {}));
    FERRY_ASSIGN_OR_RETURN(cbt::ExtentList held, cbt::AllocatedRanges(file.fd(), had, target));
    FERRY_ASSIGN_OR_RETURN(ranges, image->DataRanges());
    ranges = Union(std::move(ranges), ClipTo(std::move(held), sc->size));
  } else if (options.delta) {
    ranges.push_back({0, sc->size});  // A device: compare everything.
  } else if (device) {
    // A device gets every byte (zeros too); a new file only what holds data.
    ranges.push_back({0, sc->size});
  } else {
    FERRY_ASSIGN_OR_RETURN(ranges, image->DataRanges());
  }
  GuestCopyOptions o;
  o.qcow2 = options.qcow2;
  if (o.qcow2) o.qcow2->only_dirty_clusters = true;
  o.threads = options.threads;
  o.cancel = options.cancel;
  o.progress = options.progress;
  o.delta = options.delta;
  FERRY_ASSIGN_OR_RETURN(GuestCopyResult copied,
                         CopyGuestRanges(target, sc->size, ranges, ImageReaders(path), o));
  ImageRestoreResult r;
  r.size = sc->size;
  r.bytes_read = copied.bytes_read;
  r.bytes_written = copied.bytes_written;
  r.bytes_compared = copied.bytes_compared;
  r.clusters = copied.clusters;
  r.seconds = copied.seconds;
  return r;
}

// --- forget -------------------------------------------------------------------------------

Result<ForgetResult> ImageStore::Forget(const std::vector<ImageSnapshot>& snapshots,
                                        const std::string& volume, const ImageJobOptions& options) {
  FERRY_ASSIGN_OR_RETURN(const LayoutLock layout_lock,
                         LayoutLock::Acquire(dir_, LayoutLock::Kind::kExclusive, "forget"));
  ForgetResult result;
  // 1. The sidecars go first: each snapshot is gone the moment its sidecar is.
  for (const ImageSnapshot& snap : snapshots) {
    bool found = false;
    for (const Sidecar& sc : snap.volumes) {
      if (!volume.empty() && sc.volume != volume) continue;
      found = true;
      FERRY_RETURN_IF_ERROR(
          RemoveDurably(VolumeDir(sc.volume) + "/" + qcow2_layout::SidecarName(sc.id)));
      result.forgotten.push_back(sc.id.ToHex() + ":" + sc.volume);
    }
    if (!found) {
      return Err(
          Status::NotFound(fmt::format("snapshot {} has no volume '{}'", Short(snap.id), volume)));
    }
  }
  // 2 and 3. Every volume: merge what depends on orphans, delete what nothing needs.
  FERRY_ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  for (const std::string& v : volumes) FERRY_RETURN_IF_ERROR(Collapse(v, options, &result));
  return result;
}

Status ImageStore::Collapse(std::string_view volume, const ImageJobOptions& options,
                            ForgetResult* result) {
  const std::string dir = VolumeDir(volume);
  // Leftovers of interrupted writes go first: nothing reads them.
  std::error_code ec;
  std::vector<std::string> leftovers;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.ends_with(qcow2_layout::kPartialSuffix) || name.rfind(".tmp-", 0) == 0) {
      leftovers.push_back(it->path().string());
    }
  }
  if (ec) return Status::FromErrno(ec.value(), "list " + dir);
  for (const std::string& path : leftovers) {
    FERRY_RETURN_IF_ERROR(RemoveDurably(path));
    ++result->removed;
  }

  // Which images exist, which have sidecars, and what backs each.
  FERRY_ASSIGN_OR_RETURN(auto sidecars, LoadSidecars(volume));
  std::set<repo::ObjectId> living;
  for (const Sidecar& s : sidecars) living.insert(s.id);
  std::map<repo::ObjectId, std::optional<repo::ObjectId>> backing_of;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const auto id = qcow2_layout::IdOfImage(it->path().filename().string());
    if (!id) continue;
    FERRY_ASSIGN_OR_RETURN(std::string backing, BackingOf(it->path().string()));
    std::optional<repo::ObjectId> below;
    if (!backing.empty()) {
      below = qcow2_layout::IdOfImage(backing);
      if (!below) {
        return Status::Corruption(fmt::format(
            "{}: backing file '{}' is not an image of this layout", it->path().string(), backing));
      }
    }
    backing_of[*id] = below;
  }
  if (ec) return Status::FromErrno(ec.value(), "list " + dir);

  // Merge each living image that stands on orphans onto the first living image below them.
  for (const Sidecar& s : sidecars) {
    auto it = backing_of.find(s.id);
    if (it == backing_of.end()) {
      return Status::Corruption(fmt::format("{}: the image of snapshot {} is missing",
                                            ImagePath(volume, s.id), Short(s.id)));
    }
    std::vector<repo::ObjectId> orphans;
    std::optional<repo::ObjectId> below = it->second;
    while (below && !living.contains(*below)) {
      orphans.push_back(*below);
      auto next = backing_of.find(*below);
      if (next == backing_of.end()) {
        return Status::Corruption(fmt::format("{}: backing image {} is missing",
                                              ImagePath(volume, s.id),
                                              qcow2_layout::ImageName(*below)));
      }
      below = next->second;
    }
    if (orphans.empty()) continue;
    // The clusters the image or any orphan below it allocates, read through the old chain.
    const std::string path = ImagePath(volume, s.id);
    FERRY_ASSIGN_OR_RETURN(cbt::ExtentList ranges, OwnClusters(path));
    for (const repo::ObjectId& o : orphans) {
      FERRY_ASSIGN_OR_RETURN(cbt::ExtentList more, OwnClusters(ImagePath(volume, o)));
      ranges = Union(std::move(ranges), ClipTo(std::move(more), s.size));
    }
    GuestCopyOptions o;
    Qcow2ExportOptions q;
    q.cluster_bits = config_.cluster_bits;
    q.compression = config_.compression;
    if (below) q.backing = qcow2_layout::ImageName(*below);
    q.only_dirty_clusters = true;
    o.qcow2 = q;
    o.threads = options.threads;
    o.cancel = options.cancel;
    o.progress = options.progress;
    const std::string partial = path + std::string(qcow2_layout::kPartialSuffix);
    if (auto merged = CopyGuestRanges(partial, s.size, ranges, ImageReaders(path), o); !merged) {
      return merged.error();
    }
    FERRY_RETURN_IF_ERROR(Publish(partial, path));
    backing_of[s.id] = below;
    ++result->merged;
  }

  // Delete orphans nothing stands on, until none is left (an orphan may back another orphan).
  for (bool again = true; again;) {
    again = false;
    std::set<repo::ObjectId> used;
    for (const auto& [id, below] : backing_of) {
      if (below) used.insert(*below);
    }
    for (auto it = backing_of.begin(); it != backing_of.end();) {
      if (living.contains(it->first) || used.contains(it->first)) {
        ++it;
        continue;
      }
      FERRY_RETURN_IF_ERROR(RemoveDurably(ImagePath(volume, it->first)));
      ++result->removed;
      it = backing_of.erase(it);
      again = true;
    }
  }
  return Status();
}

// --- stats ------------------------------------------------------------------------------

Result<ImageStoreStats> ImageStore::Stats() {
  FERRY_ASSIGN_OR_RETURN(const LayoutLock layout_lock,
                         LayoutLock::Acquire(dir_, LayoutLock::Kind::kShared, "stats"));
  ImageStoreStats st;
  FERRY_ASSIGN_OR_RETURN(auto snapshots, ListSnapshots());
  st.snapshots = snapshots.size();
  for (const ImageSnapshot& s : snapshots) {
    for (const Sidecar& v : s.volumes) st.logical_bytes += v.size;
  }
  FERRY_ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  for (const std::string& volume : volumes) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(VolumeDir(volume), ec);
         !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (!qcow2_layout::IdOfImage(it->path().filename().string())) continue;
      struct stat info {};
      if (::stat(it->path().c_str(), &info) != 0) {
        return Err(Status::FromErrno(errno, "stat " + it->path().string()));
      }
      st.stored_bytes += static_cast<uint64_t>(info.st_blocks) * 512;  // Allocated, not apparent.
      ++st.images;
    }
    if (ec) return Err(Status::FromErrno(ec.value(), "list " + VolumeDir(volume)));
  }
  return st;
}

// --- check --------------------------------------------------------------------------------

Result<ImageCheckResult> ImageStore::Check(bool read_data, const ImageJobOptions& options) {
  FERRY_ASSIGN_OR_RETURN(const LayoutLock layout_lock,
                         LayoutLock::Acquire(dir_, LayoutLock::Kind::kShared, "check",
                                             options.cancel, options.waiting));
  ImageCheckResult r;
  FERRY_ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  for (const std::string& volume : volumes) {
    const std::string dir = VolumeDir(volume);
    if (Status s = qcow2_layout::CheckVolumeName(volume); !s.ok()) {
      r.errors.push_back(dir + ": " + s.message());
      continue;
    }
    auto sidecars = LoadSidecars(volume);
    if (!sidecars) {
      r.errors.push_back(sidecars.error().message());
      continue;
    }
    std::set<repo::ObjectId> living, used;
    for (const Sidecar& s : *sidecars) living.insert(s.id);
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const std::string path = it->path().string();
      if (qcow2_layout::IdOfSidecar(name)) continue;
      const auto id = qcow2_layout::IdOfImage(name);
      if (!id) {
        r.warnings.push_back(path +
                             ": not part of the layout (left by an interrupted write? "
                             "`ferry forget` removes partial files)");
        continue;
      }
      ++r.images;
      // Each image on its own: its header, its backing name, its refcounts.
      auto file = qcow2::OpenImageFile(path);
      if (!file) {
        r.errors.push_back(file.error().message());
        continue;
      }
      auto image = qcow2::Qcow2Image::Open(std::move(*file));
      if (!image) {
        r.errors.push_back(image.error().message());
        continue;
      }
      const std::string& backing = (*image)->header().backing_file;
      if (!backing.empty()) {
        const auto below = qcow2_layout::IdOfImage(backing);
        if (!below) {
          r.errors.push_back(
              fmt::format("{}: backing file '{}' is not an image of this volume", path, backing));
        } else {
          used.insert(*below);
        }
      }
      auto refcounts = qcow2::CheckRefcounts(**image);
      if (!refcounts) {
        r.errors.push_back(refcounts.error().message());
      } else if (refcounts->errors > 0) {
        r.errors.push_back(fmt::format("{}: {} refcount errors ({})", path, refcounts->errors,
                                       refcounts->problems.empty() ? "" : refcounts->problems[0]));
      } else if (refcounts->leaks > 0) {
        r.warnings.push_back(
            fmt::format("{}: {} leaked clusters (space only; `qemu-img check -r "
                        "leaks` reclaims them)",
                        path, refcounts->leaks));
      }
      if (!living.contains(*id)) {
        r.warnings.push_back(fmt::format(
            "{}: no snapshot names this image (a forgotten snapshot not yet merged, or an "
            "interrupted backup): `ferry forget` finishes the work",
            path));
      }
    }
    if (ec) r.errors.push_back(Status::FromErrno(ec.value(), "list " + dir).message());
    // Each snapshot through its whole chain.
    for (const Sidecar& s : *sidecars) {
      ++r.snapshots;
      const std::string path = ImagePath(volume, s.id);
      auto image = qcow2::OpenImage(path);
      if (!image) {
        r.errors.push_back(
            fmt::format("snapshot {} of '{}': {}", Short(s.id), volume, image.error().message()));
        continue;
      }
      if ((*image)->size() != s.size) {
        r.errors.push_back(
            fmt::format("{}: {} bytes, its sidecar says {}", path, (*image)->size(), s.size));
        continue;
      }
      if (!read_data) continue;
      auto ranges = (*image)->DataRanges();
      if (!ranges) {
        r.errors.push_back(ranges.error().message());
        continue;
      }
      std::string buf(4u << 20, '\0');
      for (const cbt::ByteRange& range : *ranges) {
        Status st;
        for (uint64_t at = range.offset; at < range.end() && st.ok(); at += buf.size()) {
          if (options.cancel != nullptr && options.cancel->cancelled()) {
            return Err(Status::Cancelled("check was cancelled"));
          }
          const uint64_t n = std::min<uint64_t>(buf.size(), range.end() - at);
          st = (*image)->Read(AsWritableBytes(buf).first(n), at);
          r.bytes_read += n;
        }
        if (!st.ok()) {
          r.errors.push_back(
              fmt::format("snapshot {} of '{}': {}", Short(s.id), volume, st.message()));
          break;
        }
      }
    }
  }
  return r;
}

}  // namespace ferry
