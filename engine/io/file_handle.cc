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
  // Open once, then ask for O_DIRECT where it means something. Opening twice (with O_DIRECT,
  // then without on EINVAL) breaks FIFOs: the first open pairs with the writer, which may then
  // write into a pipe with no reader, give up, and leave the second open waiting forever.
  h.fd_ = ::open(path.c_str(), flags, 0644);
  if (h.fd_ < 0) return Err(Status::FromErrno(errno, "open " + path));
  if (options.direct) {
    struct stat st {};
    if (::fstat(h.fd_, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) &&
        ::fcntl(h.fd_, F_SETFL, ::fcntl(h.fd_, F_GETFL) | O_DIRECT) == 0) {
      h.direct_ = true;  // File systems that refuse O_DIRECT (tmpfs) stay buffered.
    }
  }
  return h;
}

FileHandle FileHandle::Adopt(int fd, std::string path) {
  FileHandle h;
  h.fd_ = fd;
  h.path_ = std::move(path);
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
