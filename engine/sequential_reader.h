// SequentialReader: a source read front to back with read-ahead, for chunking.
//
// A regular file or block device is read through an IoQueue (io_uring or psync) with several
// aligned buffers in flight, O_DIRECT when the file system allows it, over the whole source or
// over given ranges only (so holes are never read); "-" reads standard input (or any pipe) with
// read(2). Buffers are handed out in stream order without copying; a buffer never spans two
// ranges.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "engine/io/aligned_buffer.h"
#include "engine/io/file_handle.h"
#include "engine/io/io_queue.h"

namespace ferry {

struct SequentialReaderOptions {
  size_t buffer_size = 1 << 20;  // Multiple of 4096.
  unsigned buffers = 8;          // Reads in flight at most (plus the one being consumed).
  io::BackendKind backend = io::BackendKind::kAuto;
  bool direct = true;  // Try O_DIRECT (avoids filling the page cache with a whole volume).
};

struct SourceBuffer {
  uint64_t offset = 0;  // Source offset of data[0].
  ByteView data;        // Empty at the end of the source.
};

class SequentialReader {
 public:
  // Opens `path` ("-" for standard input). Errors: kNotFound / kPermissionDenied naming the
  // path; kInvalidArgument for bad options or a directory; kNotSupported from a forced io_uring.
  // The read-ahead buffers are allocated (and registered) by the first Next(), so a reader
  // opened only for its size or file descriptor costs no memory.
  static Result<std::unique_ptr<SequentialReader>> Open(const std::string& path,
                                                        const SequentialReaderOptions& options);
  ~SequentialReader();

  // Restricts reading to `ranges` (sorted, within size()). REQUIRES: called before the first
  // Next(), not on a pipe.
  void SetRanges(cbt::ExtentList ranges);

  // The next bytes, or an empty view at the end. The view stays valid until the next call.
  // Blocks until the data is read. Errors: kIoError naming the path and offset, also when the
  // source ends before its size said it would (it shrank or vanished during the read).
  Result<SourceBuffer> NextBuffer();
  // As NextBuffer(), without the offset.
  Result<ByteView> Next();

  // Size of the source if known in advance (files, devices), else 0.
  uint64_t size() const { return size_; }
  bool is_pipe() const { return pipe_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // "io_uring", "psync" or "read" (pipes).
  std::string_view backend_name() const;
  // Why io_uring is not in use, if the automatic choice fell back; else empty.
  const std::string& fallback_reason() const { return fallback_reason_; }

 private:
  struct Slot {
    uint64_t offset = 0;
    size_t wanted = 0;  // Bytes of the source this read covers (the request may be rounded up).
    int64_t result = 0;
    bool busy = false;  // Submitted and not yet handed out.
  };

  SequentialReader() = default;
  Status Start();
  void SubmitNext(size_t slot);
  Result<SourceBuffer> NextFromPipe();

  std::string path_;
  SequentialReaderOptions options_;
  io::FileHandle file_;
  int fd_ = -1;
  bool pipe_ = false;
  bool started_ = false;
  uint64_t size_ = 0;
  std::unique_ptr<io::IoQueue> queue_;  // Reads into buffers_: reset first (see the destructor).
  std::string fallback_reason_;
  bool registered_ = false;
  std::vector<io::AlignedBuffer> buffers_;
  std::vector<Slot> slots_;
  cbt::ExtentList ranges_;
  std::optional<cbt::ExtentList> custom_ranges_;
  size_t range_index_ = 0;
  uint64_t cursor_ = 0;  // Next source offset to submit within ranges_[range_index_].
  size_t deliver_slot_ = 0;
  bool holding_ = false;  // The caller holds the buffer of the slot before deliver_slot_.
  uint64_t pipe_offset_ = 0;
  std::vector<io::IoCompletion> completions_;
};

}  // namespace ferry
