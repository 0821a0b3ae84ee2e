#include "common/file_io.h"

#include <cerrno>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace ferry {

Result<size_t> ReadFullAt(int fd, MutableByteView dst, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < dst.size()) {
    const ssize_t n =
        ::pread(fd, dst.data() + done, dst.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err(
          Status::FromErrno(errno, fmt::format("read {} at offset {}", path, offset + done)));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status WriteFullAt(int fd, ByteView src, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < src.size()) {
    const ssize_t n =
        ::pwrite(fd, src.data() + done, src.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, fmt::format("write {} at offset {}", path, offset + done));
    }
    done += static_cast<size_t>(n);
  }
  return Status();
}

Status WriteFull(int fd, ByteView src, const std::string& path) {
  size_t done = 0;
  while (done < src.size()) {
    const ssize_t n = ::write(fd, src.data() + done, src.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return Status();
}

Status FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync directory " + dir);
  return Status();
}

}  // namespace ferry
