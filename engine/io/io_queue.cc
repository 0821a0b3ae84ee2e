#include "engine/io/io_queue.h"

#include <cstdlib>

#include <fmt/format.h>

#include "engine/io/psync_queue.h"
#include "engine/io/uring_queue.h"

namespace ferry::io {

std::string_view BackendKindName(BackendKind kind) {
  switch (kind) {
    case BackendKind::kAuto:
      return "auto";
    case BackendKind::kUring:
      return "uring";
    case BackendKind::kPsync:
      return "psync";
  }
  return "unknown";
}

Result<BackendKind> ParseBackendKind(std::string_view name) {
  if (name == "auto") return BackendKind::kAuto;
  if (name == "uring" || name == "io_uring") return BackendKind::kUring;
  if (name == "psync" || name == "pread") return BackendKind::kPsync;
  return Err(Status::InvalidArgument(
      fmt::format("unknown I/O backend '{}' (expected auto, uring or psync)", name)));
}

Result<CreatedIoQueue> CreateIoQueue(const IoQueueOptions& options) {
  if (options.depth == 0) return Err(Status::InvalidArgument("I/O queue depth must be > 0"));
  BackendKind kind = options.kind;
  if (kind == BackendKind::kAuto) {
    if (const char* env = std::getenv("FERRY_IO_BACKEND"); env != nullptr && *env != '\0') {
      auto parsed = ParseBackendKind(env);
      if (!parsed) return Err(parsed.error().WithContext("FERRY_IO_BACKEND"));
      kind = *parsed;
    }
  }
  CreatedIoQueue created;
  if (kind != BackendKind::kPsync) {
    auto uring = CreateUringQueue(options.depth);
    if (uring) {
      created.queue = std::move(*uring);
      return created;
    }
    if (kind == BackendKind::kUring) {
      return Err(Status::NotSupported(
          fmt::format("io_uring was requested but cannot be used ({})", uring.error().message())));
    }
    created.fallback_reason =
        fmt::format("io_uring is unavailable ({}); using the pread/pwrite thread pool",
                    uring.error().message());
  }
  created.queue = CreatePsyncQueue(options.depth, options.psync_threads);
  return created;
}

Result<size_t> TransferSync(IoQueue& queue, IoOp op, int fd, uint64_t offset, std::byte* buf,
                            size_t len) {
  queue.Submit({op, fd, offset, buf, len, 0, -1});
  std::vector<IoCompletion> done;
  FERRY_RETURN_IF_ERROR(queue.Reap(1, &done));
  if (done.size() != 1) return Err(Status::IoError("I/O queue lost a request"));
  if (!done[0].ok()) {
    return Err(
        Status::FromErrno(static_cast<int>(-done[0].result), op == IoOp::kRead ? "read" : "write"));
  }
  return static_cast<size_t>(done[0].result);
}

}  // namespace ferry::io
