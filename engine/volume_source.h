// VolumeSource: the guest-visible bytes of one volume being backed up, whatever holds them: a
// raw file, block device or pipe (read through SequentialReader), a QCOW2 image and its backing
// chain (read through formats/qcow2), or an NBD export (nbd:// and nbd+unix:// URIs, read
// through libnbd). Backup sees only this.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/cancel.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "engine/sequential_reader.h"
#include "formats/qcow2/image.h"

namespace ferry {

struct VolumeSourceOptions {
  SequentialReaderOptions reader;
  // kAuto: a file or block device starting with the QCOW2 magic is read as QCOW2; pipes are raw.
  qcow2::ImageFormat format = qcow2::ImageFormat::kAuto;
  // Optional; must outlive the source. Files are read in bounded steps, between which the job
  // checks it; a source that waits on a server (NBD) stops waiting when it is set.
  const CancelToken* cancel = nullptr;
};

class VolumeSource {
 public:
  // Opens `path` ("-" for standard input). Errors: those of SequentialReader::Open and
  // qcow2::OpenImage, naming the path.
  static Result<std::unique_ptr<VolumeSource>> Open(const std::string& path,
                                                    const VolumeSourceOptions& options);
  virtual ~VolumeSource() = default;

  virtual const std::string& path() const = 0;
  // Guest-visible size; 0 for a pipe (known only at its end).
  virtual uint64_t size() const = 0;
  virtual bool is_pipe() const { return false; }
  // "raw", "qcow2" or "nbd".
  virtual std::string_view format() const = 0;
  // How the bytes are read ("io_uring", "psync", "read", "pread") and why io_uring is not used,
  // if the automatic choice fell back.
  virtual std::string_view backend_name() const = 0;
  virtual const std::string& fallback_reason() const = 0;

  // Ranges that may hold data; the rest reads as zeros. REQUIRES: not a pipe.
  virtual Result<cbt::ExtentList> DataRanges() = 0;
  // Restricts NextBuffer() to `ranges` (sorted, inside size()). REQUIRES: before the first
  // NextBuffer(), not a pipe.
  virtual void SetRanges(cbt::ExtentList ranges) = 0;
  // The next bytes in offset order, or an empty view at the end. The view stays valid until the
  // next call. A buffer never spans two ranges.
  virtual Result<SourceBuffer> NextBuffer() = 0;
  // Reads exactly `out.size()` bytes at `offset`, apart from the NextBuffer() stream. Errors:
  // kIoError naming the path and offset, also when the source ended early.
  virtual Status ReadAt(MutableByteView out, uint64_t offset) = 0;
  // Another reader of the same source (a second pass, or one per worker thread), usable from
  // another thread. REQUIRES: not a pipe. An NBD export whose server does not advertise
  // multi-conn is not connected to again (qemu-nbd serves one client unless told -e N, and a
  // second connection would wait for the first to close): the readers share one connection, one
  // call at a time, and only one of them may stream (NextBuffer) at a time.
  virtual Result<std::unique_ptr<VolumeSource>> OpenAgain() const = 0;
};

}  // namespace ferry
