// IoQueue: batched, asynchronous positional reads and writes on file descriptors.
//
// Two backends implement it: io_uring (liburing: one submission syscall per batch, registered
// buffers, O_DIRECT-friendly) and a pread/pwrite thread pool for kernels or sandboxes where
// io_uring cannot be set up. CreateIoQueue() picks io_uring and falls back automatically,
// reporting why, so that the caller can say so once.
//
// Completion semantics are the same for both: a request completes once, with the number of
// bytes transferred or a negative errno. Short transfers are not errors: the queue advances and
// requeues them itself, so a read completes short only at end of file, and a write completes
// short never.
//
// Thread-safety: an IoQueue is driven by one thread at a time (Submit and Reap from the same
// thread). Use one queue per I/O thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::io {

enum class IoOp : uint8_t { kRead, kWrite };

struct IoRequest {
  IoOp op = IoOp::kRead;
  int fd = -1;
  uint64_t offset = 0;
  std::byte* buf = nullptr;
  size_t len = 0;
  uint64_t tag = 0;    // The caller's identifier, returned with the completion.
  int buf_index = -1;  // Index of a buffer given to RegisterBuffers() that holds buf, or -1.
};

struct IoCompletion {
  uint64_t tag = 0;
  int64_t result = 0;  // Bytes transferred, or -errno.

  bool ok() const { return result >= 0; }
};

enum class BackendKind : uint8_t { kAuto, kUring, kPsync };

// "auto", "uring" or "psync".
std::string_view BackendKindName(BackendKind kind);
// Parses a BackendKindName() (also "io_uring" and "pread"). Errors: kInvalidArgument.
Result<BackendKind> ParseBackendKind(std::string_view name);

struct IoQueueOptions {
  // kAuto reads FERRY_IO_BACKEND (auto, uring or psync) from the environment, then tries
  // io_uring and falls back to psync.
  BackendKind kind = BackendKind::kAuto;
  unsigned depth = 64;         // Requests in flight at most.
  unsigned psync_threads = 0;  // Worker threads of the psync backend; 0 = min(depth, 16).
};

class IoQueue {
 public:
  virtual ~IoQueue() = default;

  // "io_uring" or "psync".
  virtual std::string_view name() const = 0;
  virtual unsigned depth() const = 0;
  // Requests submitted and not yet reaped.
  virtual size_t in_flight() const = 0;

  // Queues `req`. Nothing reaches the kernel before the next Flush() or Reap() (so a batch
  // costs one syscall on io_uring). REQUIRES: in_flight() < depth(); req.buf stays live and
  // untouched until the request's completion has been reaped. Never blocks.
  virtual void Submit(const IoRequest& req) = 0;

  // Sends every queued request to the kernel now, without waiting for any to complete. Batching
  // (leaving requests queued until Reap) saves syscalls; flushing each request as it is queued
  // keeps a device's queue fuller for small random reads (measured in bench/RESULTS.md).
  // Errors: kIoError if the queue itself fails.
  virtual Status Flush() = 0;

  // Sends every queued request, waits until at least `min_complete` requests have completed
  // (0: do not wait), and appends all completions available to `*out`. Returns how many it
  // appended. Blocks while waiting. Errors: kIoError if the queue itself fails (the requests'
  // own errors are in their completions, not here).
  virtual Result<size_t> Reap(size_t min_complete, std::vector<IoCompletion>* out) = 0;

  // Registers `buffers` for fixed-buffer I/O: requests whose buf lies in buffers[i] may pass
  // buf_index = i to save the kernel a page walk per request. May be called once, when nothing
  // is in flight; the buffers must outlive the queue. The psync backend ignores it.
  // Errors: as io_uring_register_buffers (for example kNoSpace beyond RLIMIT_MEMLOCK).
  virtual Status RegisterBuffers(std::span<const MutableByteView> buffers) = 0;
};

struct CreatedIoQueue {
  std::unique_ptr<IoQueue> queue;
  // Why io_uring was not used, when kAuto fell back to psync; empty otherwise.
  std::string fallback_reason;
};

// Creates a queue. Errors: kInvalidArgument for depth 0 or a bad FERRY_IO_BACKEND;
// kNotSupported (naming the errno) if io_uring was requested explicitly and cannot be set up.
Result<CreatedIoQueue> CreateIoQueue(const IoQueueOptions& options);

// Convenience for simple callers: reads or writes all of `len` bytes at `offset` through `queue`
// and waits. Returns bytes transferred (short only at end of file for reads).
// REQUIRES: nothing else in flight on `queue`.
Result<size_t> TransferSync(IoQueue& queue, IoOp op, int fd, uint64_t offset, std::byte* buf,
                            size_t len);

}  // namespace ferry::io
