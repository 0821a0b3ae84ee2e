// Restoring a volume as a QCOW2 image: a standalone image (optionally with compressed
// clusters) or an overlay that holds only the clusters differing from a backing image.
//
// The restore's workers fill windows as for any file; Qcow2Placer then looks at each window's
// clusters on the worker's thread (all-zero? the same as the backing image? compress it?) and,
// on the writer thread, gives each cluster its place in the file through Qcow2Writer. The data
// goes out through the restore's io_uring queue; the metadata is written last, in the writer's
// crash-safe phases, each made durable before the next.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

#include "engine/window_writer.h"
#include "formats/qcow2/image.h"
#include "formats/qcow2/writer.h"

namespace ferry {

struct Qcow2ExportOptions {
  uint32_t cluster_bits = 16;                     // 64 KiB clusters, QEMU's default.
  std::optional<qcow2::Compression> compression;  // Unset: clusters stored uncompressed.
  // An overlay on this image (raw or QCOW2): only clusters that differ from it are stored. The
  // name is stored as given and, if relative, is relative to the target's directory (as QEMU
  // resolves it).
  std::string backing;
  // Clusters that no dirty range of a window touches are left out (they keep the backing
  // image's content) instead of being taken as zeros: for images built from changed ranges,
  // whose dirty ranges then cover whole clusters.
  bool only_dirty_clusters = false;
};

class Qcow2Placer final : public WindowPlacer {
 public:
  // Opens the backing image (if any) and lays out the image. Errors: from opening the backing
  // image (naming it) and from Qcow2Writer::Create.
  static Result<std::unique_ptr<Qcow2Placer>> Create(const std::string& target, uint64_t size,
                                                     const Qcow2ExportOptions& options);

  // Writes the empty image's metadata at offset 0 of the new file `fd` (first of all).
  Status WriteInitial(int fd, const std::string& name) const;
  uint64_t cluster_size() const { return cluster_size_; }

  Result<std::unique_ptr<PreparedWindow>> Prepare(uint64_t start, MutableByteView buffer,
                                                  const cbt::ExtentList& dirty) override;
  Status Place(PreparedWindow& window, std::vector<Write>* writes) override;

  // After every data write completed: writes the metadata phase by phase through `fd`,
  // fsyncing after each. Errors: kIoError / kNoSpace naming `name`.
  Status Finish(int fd, const std::string& name);

  uint64_t data_clusters() const { return writer_->data_clusters(); }
  uint64_t compressed_clusters() const { return writer_->compressed_clusters(); }

 private:
  Qcow2Placer(std::unique_ptr<qcow2::Qcow2Writer> writer, uint64_t size,
              const Qcow2ExportOptions& options)
      : writer_(std::move(writer)),
        cluster_size_(writer_->cluster_size()),
        size_(size),
        options_(options) {}
  // A backing image for one worker (images cache tables and are not thread-safe).
  Result<std::unique_ptr<qcow2::Image>> TakeBacking();
  void ReturnBacking(std::unique_ptr<qcow2::Image> image);

  std::unique_ptr<qcow2::Qcow2Writer> writer_;  // Writer thread only.
  const uint64_t cluster_size_;                 // Read by the workers.
  const uint64_t size_;
  const Qcow2ExportOptions options_;
  std::string backing_path_;  // Resolved for opening.
  uint64_t backing_size_ = 0;
  std::mutex backing_mu_;
  std::vector<std::unique_ptr<qcow2::Image>> backing_pool_;
};

}  // namespace ferry
