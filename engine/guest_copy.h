// Copying guest ranges out of any reader into a new raw file, a block device or a new QCOW2
// image: backups into the qcow2 layout, merges of its chains when a backup in the middle is
// forgotten, and restores out of it.
//
// Worker threads, each with its own reader, read the windows of the ranges (widened to whole
// clusters, or 4 KiB blocks for raw targets) and commit them to a WindowWriter, which writes
// them through io_uring. For a QCOW2 target a Qcow2Placer decides, on the workers, which
// clusters to store (those that differ from the backing image; zeros over data as zero
// clusters; optionally compressed), and the image's metadata follows the data in Qcow2Writer's
// crash-safe phases. Guest bytes outside the ranges are not written: holes in a raw file, the
// backing image's content in a QCOW2 overlay.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/cancel.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "engine/progress.h"
#include "engine/qcow2_export.h"

namespace ferry {

// Reads exactly `out.size()` guest bytes at `offset`; used by one worker thread.
using GuestReadFn = std::function<Status(MutableByteView out, uint64_t offset)>;
// Opens a reader for one worker; called once from each worker thread, possibly concurrently.
using GuestReaderFactory = std::function<Result<GuestReadFn>()>;

class VolumeSource;
// Readers of `source` (which must outlive them), one per worker: each reopens it
// (VolumeSource::OpenAgain: a descriptor of its own, or the one connection of an NBD export whose
// server allows no more), one reopen at a time.
GuestReaderFactory SourceReaders(const VolumeSource& source);

struct GuestCopyOptions {
  // Write a QCOW2 image (cluster size, compression, backing file) instead of raw bytes.
  std::optional<Qcow2ExportOptions> qcow2;
  unsigned threads = 0;      // 0 = cores, at least 2.
  size_t window = 4u << 20;  // Guest bytes per window (rounded up to whole clusters).
  const CancelToken* cancel = nullptr;
  ProgressFn progress;  // bytes_total: what BytesToCopy() says.
  // Rewrite an existing raw target in place (a file, resized to the volume, or a device at
  // least as large): each window's ranges are read from the target and compared block by
  // block, and only the 4 KiB blocks that differ are written. Not with qcow2.
  bool delta = false;
};

struct GuestCopyResult {
  uint64_t bytes_read = 0;      // Guest bytes read (the ranges, widened).
  uint64_t clusters = 0;        // QCOW2: clusters stored, plain and compressed.
  uint64_t bytes_written = 0;   // Data bytes written to the target (QCOW2 metadata not counted).
  uint64_t bytes_compared = 0;  // Delta: target bytes read and compared.
  std::string io_backend;
  double seconds = 0;
};

// The granularity ranges are widened to: the cluster size for QCOW2, else 4 KiB.
uint64_t CopyGranularity(const GuestCopyOptions& options);
// How many guest bytes a copy of `ranges` reads: each widened to the granularity, within `size`.
uint64_t BytesToCopy(const cbt::ExtentList& ranges, uint64_t size, uint64_t granularity);

// Writes the guest bytes `ranges` (sorted, non-overlapping, inside `size`) of a volume of
// `size` bytes, read through readers from `open_reader`, to `target`: a new file (which must not
// exist; a raw file is sized to the volume, sparse) or, raw only, an existing block device of
// at least `size` bytes, or with `delta` an existing file or device rewritten in place.
// Errors: kAlreadyExists (target), kNotFound (a delta target), kInvalidArgument (a device too
// small, a QCOW2 image on a device or with delta, a delta target that is neither a file nor a
// device), those of Qcow2Placer::Create and of the readers, kNoSpace / kIoError naming the
// target, kCancelled. A new file is removed on error.
Result<GuestCopyResult> CopyGuestRanges(const std::string& target, uint64_t size,
                                        const cbt::ExtentList& ranges,
                                        const GuestReaderFactory& open_reader,
                                        const GuestCopyOptions& options);

}  // namespace ferry
