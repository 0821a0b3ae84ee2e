#include "engine/layout_lock.h"

#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

namespace ferry {

namespace {

// How often a job waiting for a forget tries again (and looks at its cancel token).
constexpr std::chrono::milliseconds kRetryInterval{100};

}  // namespace

Result<LayoutLock> LayoutLock::Acquire(const std::string& dir, Kind kind, std::string_view job,
                                       const CancelToken* cancel,
                                       const std::function<void()>& waiting) {
  const std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 && kind == Kind::kShared && (errno == EROFS || errno == EACCES || errno == EPERM)) {
    // A copy on read-only media, or a directory this user may only read, can still be
    // restored and checked: an existing lock file locks as well opened read-only, and where
    // there is none and none can be made, no forget can be running.
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return LayoutLock(-1);
  }
  if (fd < 0) return Err(Status::FromErrno(errno, "open " + path));
  LayoutLock lock(fd);
  const int operation = (kind == Kind::kShared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  for (bool told = false;;) {
    if (::flock(fd, operation) == 0) return lock;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return Err(Status::FromErrno(errno, "lock " + path));
    if (kind == Kind::kExclusive) {
      return Err(Status::Unavailable(
          fmt::format("{} is in use by another ferry job (a backup, restore, check or forget): "
                      "{} when it has finished",
                      dir, job)));
    }
    if (cancel != nullptr && cancel->cancelled()) {
      return Err(
          Status::Cancelled(fmt::format("{} was cancelled waiting for a forget in {}", job, dir)));
    }
    if (!told && waiting) waiting();
    told = true;
    std::this_thread::sleep_for(kRetryInterval);
  }
}

LayoutLock& LayoutLock::operator=(LayoutLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

LayoutLock::~LayoutLock() {
  if (fd_ >= 0) ::close(fd_);  // Closing the last descriptor releases the flock.
}

}  // namespace ferry
