#include "engine/io/file_handle.h"

#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::io {

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

FileHandle::FileHandle(FileHandle&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), direct_(other.direct_), path_(std::move(other.path_)) {}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    direct_ = other.direct_;
    path_ = std::move(other.path_);
  }
  return *this;
}

Result<FileHandle> FileHandle::Open(const std::string& path, const OpenOptions& options) {
  int flags = O_CLOEXEC | (options.write ? O_RDWR : O_RDONLY);
  if (options.write && options.create) flags |= O_CREAT;
  if (options.write && options.truncate) flags |= O_TRUNC;
  FileHandle h;
  h.path_ = path;
  if (options.direct) {
    h.fd_ = ::open(path.c_str(), flags | O_DIRECT, 0644);
    if (h.fd_ >= 0) {
      h.direct_ = true;
      return h;
    }
    if (errno != EINVAL) return Err(Status::FromErrno(errno, "open " + path));
  }
  h.fd_ = ::open(path.c_str(), flags, 0644);
  if (h.fd_ < 0) return Err(Status::FromErrno(errno, "open " + path));
  return h;
}

Result<uint64_t> FileHandle::Size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Err(Status::FromErrno(errno, "stat " + path_));
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (::ioctl(fd_, BLKGETSIZE64, &bytes) != 0) {
      return Err(Status::FromErrno(errno, "BLKGETSIZE64 " + path_));
    }
    return bytes;
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace ferry::io
