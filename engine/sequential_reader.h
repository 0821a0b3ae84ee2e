// SequentialReader: a source read front to back with read-ahead, for chunking.
//
// A regular file or block device is read through an IoQueue (io_uring or psync) with several
// aligned buffers in flight, O_DIRECT when the file system allows it; "-" reads standard input
// (or any pipe) with plain read(2). Buffers are handed out in stream order without copying.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

#include "engine/io/aligned_buffer.h"
#include "engine/io/file_handle.h"
#include "engine/io/io_queue.h"

namespace ferry {

struct SequentialReaderOptions {
  size_t buffer_size = 1 << 20;  // Multiple of 4096.
  unsigned buffers = 8;          // Reads in flight at most (plus the one being consumed).
  io::BackendKind backend = io::BackendKind::kAuto;
  bool direct = true;  // Try O_DIRECT (avoids polluting the page cache with a whole volume).
};

class SequentialReader {
 public:
  // Opens `path` ("-" for standard input). Errors: kNotFound / kPermissionDenied naming the
  // path; kInvalidArgument for bad options; kNotSupported from a forced io_uring backend.
  static Result<std::unique_ptr<SequentialReader>> Open(const std::string& path,
                                                        const SequentialReaderOptions& options);
  ~SequentialReader();

  // The next bytes of the stream, or an empty view at its end. The view stays valid until the
  // next call. Blocks until the data is read. Errors: kIoError naming the path and offset.
  Result<ByteView> Next();

  // Size of the source if known in advance (files, devices), else 0.
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // "io_uring", "psync" or "read" (pipes).
  std::string_view backend_name() const;
  // Why io_uring is not in use, if the automatic choice fell back; else empty.
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  SequentialReader() = default;
  Status SubmitRead(size_t slot);
  Result<ByteView> NextFromPipe();

  std::string path_;
  SequentialReaderOptions options_;
  io::FileHandle file_;
  int fd_ = -1;
  bool pipe_ = false;
  uint64_t size_ = 0;
  std::unique_ptr<io::IoQueue> queue_;
  std::string fallback_reason_;
  bool registered_ = false;  // buffers_ are registered with queue_ (fixed-buffer reads).
  std::vector<io::AlignedBuffer> buffers_;
  std::vector<int64_t> results_;  // Per slot: bytes read, -errno, or kPendingRead.
  uint64_t next_submit_offset_ = 0;
  uint64_t next_deliver_offset_ = 0;
  size_t deliver_slot_ = 0;
  bool have_delivered_ = false;  // The slot before deliver_slot_ is held by the caller.
  bool eof_submitted_ = false;
  bool done_ = false;
  std::vector<io::IoCompletion> completions_;
};

}  // namespace ferry
