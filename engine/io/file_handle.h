// FileHandle: an owned file descriptor, opened for the I/O queues (O_DIRECT where it works).
// Thread-safety: the descriptor may be used from any thread (positional I/O); the handle itself
// is not shared.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace ferry::io {

struct OpenOptions {
  bool write = false;
  bool create = false;    // With write: create if missing (mode 0644).
  bool truncate = false;  // With write: truncate to zero.
  // Bypass the page cache. Needs aligned buffers, offsets and lengths (kDirectIoAlignment); if
  // the file system refuses O_DIRECT (tmpfs, some FUSE), the file is opened without it.
  bool direct = false;
};

// Alignment that satisfies O_DIRECT on every Linux block device we target.
inline constexpr size_t kDirectIoAlignment = 4096;

class FileHandle {
 public:
  FileHandle() = default;
  ~FileHandle();
  FileHandle(FileHandle&& other) noexcept;
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;

  // Errors: from open(2), naming the path (kNotFound, kPermissionDenied, …).
  static Result<FileHandle> Open(const std::string& path, const OpenOptions& options);
  // Takes ownership of `fd`, an open descriptor of `path` (opened in ways Open does not offer).
  static FileHandle Adopt(int fd, std::string path);

  int fd() const { return fd_; }
  bool direct() const { return direct_; }
  const std::string& path() const { return path_; }
  // Size in bytes (for block devices, the device size). Errors: from fstat/ioctl.
  Result<uint64_t> Size() const;

 private:
  int fd_ = -1;
  bool direct_ = false;
  std::string path_;
};

}  // namespace ferry::io
