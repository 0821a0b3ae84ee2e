// ImageStore: a directory in the qcow2 layout (docs/FORMAT.md §11, docs/QCOW2.md): every backup
// of a volume is a plain QCOW2 image, an overlay of the volume's previous backup holding only
// the clusters that changed, with a JSON sidecar naming the snapshot. QEMU's tools read it
// without ferry: `qemu-img convert -O raw volumes/<volume>/<id>.qcow2 out.raw`.
//
// No deduplication across volumes, no encryption: this layout trades them for an open format.
// Forgetting a snapshot merges its clusters into its successor so every chain stays whole.
//
// Thread-safety: one job at a time per directory (there are no locks yet: two processes must
// not back up or forget in one directory at once).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancel.h"
#include "common/result.h"

#include "cbt/changed_list.h"
#include "engine/progress.h"
#include "engine/qcow2_export.h"
#include "formats/qcow2/image.h"
#include "formats/qcow2_layout/layout_format.h"
#include "transports/local/local_transport.h"

namespace ferry {

struct ImageBackupSource {
  std::string path;  // File, block device, QCOW2 image or NBD URI (not a pipe: the size must be
                     // known before the image is laid out).
  std::string name;  // Volume name (defaults as for the deduplicated layout: the file name).
  qcow2::ImageFormat format = qcow2::ImageFormat::kAuto;
  // What changed since the latest backup of the volume (a CBT); unset, or untrusted, and every
  // cluster that holds data in the source or the previous backup is read and compared.
  std::optional<cbt::ChangedBlocks> changes;
  std::string cbt;  // Where `changes` came from ("list:FILE", …), for the sidecar.
};

struct ImageJobOptions {
  unsigned threads = 0;  // 0 = cores, at least 2.
  const CancelToken* cancel = nullptr;
  ProgressFn progress;
  // Called once if the job must first wait for a `forget` of the directory to finish
  // (engine/layout_lock.h), so that a caller can say why nothing moves.
  std::function<void()> waiting;
};

struct ImageBackupOptions : ImageJobOptions {
  std::vector<std::string> tags;
  std::string hostname;  // Defaults to this machine's.
  // A full image of every volume, not an overlay of its latest backup (a change source is
  // then not needed). Without it, a volume whose chain is full (LayoutConfig::full_every) gets
  // one anyway.
  bool full = false;
  // Before a change source is trusted, compare this share (0-100) of the clusters it calls
  // unchanged with the previous backup; on any difference, compare every cluster instead.
  double cbt_verify_percent = 0;
};

struct ImageBackupResult {
  repo::ObjectId id;
  std::vector<qcow2_layout::Sidecar> volumes;  // As published.
  std::vector<std::string> backing;            // Per volume: the image it overlays, or "".
  std::vector<std::string> warnings;           // A CBT that was not trusted, …
  std::vector<std::string> notes;              // Why a volume got a full image.
  std::string io_backend;
  double seconds = 0;
};

// The volumes of one snapshot id (one `ferry backup` run), oldest snapshot first in lists.
struct ImageSnapshot {
  repo::ObjectId id;
  std::string time;
  std::vector<qcow2_layout::Sidecar> volumes;
};

struct ImageRestoreOptions : ImageJobOptions {
  bool overwrite = false;  // Replace an existing target file.
  // Write a standalone QCOW2 image (its `backing` must be empty) instead of the raw volume.
  std::optional<Qcow2ExportOptions> qcow2;
  // Rewrite the existing target (a file, resized to the volume, or a device), writing only the
  // 4 KiB blocks that differ from the snapshot. Not with qcow2.
  bool delta = false;
  // With delta: the only byte ranges of the target that may differ from the snapshot (its
  // changes since it held the snapshot). Nothing else is read.
  std::optional<cbt::ExtentList> target_changes;
};

struct ImageRestoreResult {
  uint64_t size = 0;
  uint64_t bytes_read = 0;  // Guest bytes read from the chain (what holds data; delta: compared).
  uint64_t bytes_written = 0;   // Bytes written to the target.
  uint64_t bytes_compared = 0;  // Delta: target bytes read and compared.
  uint64_t clusters = 0;        // QCOW2 target: clusters stored.
  double seconds = 0;
};

struct ForgetResult {
  std::vector<std::string> forgotten;  // "<id>:<volume>" of each sidecar removed.
  uint64_t merged = 0;                 // Images rewritten over a shorter chain.
  uint64_t removed = 0;                // Orphaned images and partial files deleted.
};

struct ImageStoreStats {
  uint64_t snapshots = 0;      // Snapshot ids.
  uint64_t images = 0;         // Image files, orphans included.
  uint64_t logical_bytes = 0;  // Sum of every volume of every snapshot.
  uint64_t stored_bytes = 0;   // Bytes the image files allocate.
};

struct ImageCheckResult {
  uint64_t snapshots = 0;  // Sidecars.
  uint64_t images = 0;
  uint64_t bytes_read = 0;  // With read_data.
  std::vector<std::string> errors;
  std::vector<std::string> warnings;  // Garbage a `forget` will clear; nothing lost.
  bool ok() const { return errors.empty(); }
};

class ImageStore {
 public:
  // Creates the layout in `dir` (made if missing; it must not hold a repository already).
  // `config.id` is assigned. Errors: kAlreadyExists, kIoError naming the directory.
  static Result<std::unique_ptr<ImageStore>> Init(const std::string& dir,
                                                  qcow2_layout::LayoutConfig config);
  // Errors: kNotFound ("no ferry repository at …"), those of DecodeConfig.
  static Result<std::unique_ptr<ImageStore>> Open(const std::string& dir);
  // Whether `dir` holds a repository in the qcow2 layout (false for anything else).
  static bool IsImageStore(const std::string& dir);

  const qcow2_layout::LayoutConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  // Where the image of snapshot `id` of `volume` is.
  std::string ImagePath(std::string_view volume, const repo::ObjectId& id) const;

  // Every snapshot, oldest first (by time, then id).
  Result<std::vector<ImageSnapshot>> ListSnapshots();
  // "latest", a full id or a unique prefix. Errors: kNotFound, kInvalidArgument (ambiguous).
  Result<ImageSnapshot> ResolveSnapshot(std::string_view spec);

  // Backs up each source as a new image of its volume (an overlay of the volume's latest
  // image, if any) and then publishes the sidecars. Sources are opened and change sources
  // checked before anything is written. Errors: kInvalidArgument (a pipe, a bad volume name, a
  // CBT that does not fit), those of the sources, kNoSpace / kIoError, kCancelled; nothing is
  // published then, and earlier snapshots are untouched.
  Result<ImageBackupResult> Backup(const std::vector<ImageBackupSource>& sources,
                                   const ImageBackupOptions& options);

  // Writes `volume` of `snapshot` (the only volume if empty) to `target`: a new sparse raw file
  // (or an existing block device), or a standalone QCOW2 image. Errors: kNotFound (volume),
  // kAlreadyExists (target without overwrite), kCorruption naming an image, kIoError.
  Result<ImageRestoreResult> Restore(const ImageSnapshot& snapshot, const std::string& volume,
                                     const std::string& target, const ImageRestoreOptions& options);

  // Forgets `volume` of each snapshot (every volume if empty), merging what later snapshots
  // still need into them (§11.4), then clears orphans and partial files. With no snapshots it
  // only finishes interrupted work. Errors: kNotFound (volume), from merging; whatever was
  // done stays done and is safe.
  Result<ForgetResult> Forget(const std::vector<ImageSnapshot>& snapshots,
                              const std::string& volume, const ImageJobOptions& options);

  // Every job below holds the directory's LayoutLock: shared, waiting for a forget to finish,
  // but Forget, which holds it alone and fails with kUnavailable while another job runs.

  // Sizes: what the snapshots hold and what their images take. Errors: kIoError.
  Result<ImageStoreStats> Stats();

  // Every sidecar parses and names an image whose chain opens, stays inside its volume's
  // directory and has the sidecar's size; every image's refcounts are clean. With
  // `read_data`, every snapshot's data is read through its chain.
  Result<ImageCheckResult> Check(bool read_data, const ImageJobOptions& options);

 private:
  ImageStore(std::string dir, std::unique_ptr<LocalTransport> transport,
             qcow2_layout::LayoutConfig config)
      : dir_(std::move(dir)), transport_(std::move(transport)), config_(std::move(config)) {}

  // The transport name of a file in a volume's directory (config and sidecars are published
  // and read through the transport; images are files QEMU opens, handled directly).
  static std::string SidecarObject(std::string_view volume, std::string_view file);
  std::string VolumeDir(std::string_view volume) const;
  Result<std::vector<std::string>> ListVolumes() const;
  Result<std::vector<qcow2_layout::Sidecar>> LoadSidecars(std::string_view volume) const;
  Status PublishSidecar(const qcow2_layout::Sidecar& sidecar) const;
  // Merges and deletes until no image of `volume` depends on an orphan (§11.4).
  Status Collapse(std::string_view volume, const ImageJobOptions& options, ForgetResult* result);

  std::string dir_;
  std::unique_ptr<LocalTransport> transport_;
  qcow2_layout::LayoutConfig config_;
};

}  // namespace ferry
