#include "engine/restore_target.h"

#include <cerrno>
#include <chrono>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace ferry {

Status CheckDeltaTarget(const std::string& path, bool exists, const struct stat& st, bool qcow2) {
  if (qcow2) {
    return Status::InvalidArgument(
        "a delta restore rewrites a raw volume in place; a QCOW2 restore makes a new image");
  }
  if (!exists) return Status::NotFound(path + " does not exist: nothing to compare with");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Status::InvalidArgument(path + " is neither a regular file nor a block device");
  }
  return Status();
}

bool IsStreamTarget(bool exists, const struct stat& st) {
  return exists && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
}

Result<io::FileHandle> OpenStreamTarget(const std::string& path, const CancelToken* cancel) {
  for (;;) {
    // Without a reader, a pipe's non-blocking open fails with ENXIO at once.
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        const int err = errno;
        ::close(fd);
        return Err(Status::FromErrno(err, "open " + path));
      }
      return io::FileHandle::Adopt(fd, path);
    }
    if (errno != ENXIO) return Err(Status::FromErrno(errno, "open " + path));
    if (cancel != nullptr && cancel->cancelled()) {
      return Err(Status::Cancelled("restore was cancelled while waiting for a reader of " + path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status CheckNewTarget(const std::string& path, bool exists, const struct stat& st, bool overwrite) {
  if (!exists || S_ISBLK(st.st_mode)) return Status();
  if (S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(path + " is a directory: restore to a file or a block device");
  }
  if (IsStreamTarget(exists, st)) {
    return Status::InvalidArgument(
        fmt::format("{} is a {}: this restore writes a file or a block device", path,
                    S_ISFIFO(st.st_mode) ? "pipe" : "character device"));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path +
                                   " is neither a file nor a device: restore to a file or a block "
                                   "device");
  }
  if (!overwrite) return Status::AlreadyExists(path + " exists (remove it, or pass --overwrite)");
  return Status();
}

}  // namespace ferry
