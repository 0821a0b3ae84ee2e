// LayoutLock: keeps a `forget` of a qcow2-layout directory apart from the jobs that use it
// (docs/FORMAT.md §11.5). Forget merges images, deletes the ones no snapshot names and removes
// partial files; beside a running backup it would delete the image that backup is overlaying,
// its partial file, or its published image before the sidecar names it.
//
// An flock(2) on `<dir>/lock`: backup, restore, check and stats hold it shared (they may run
// together), forget exclusive. A job that wants it shared waits for a forget to finish; a
// forget that finds the directory in use fails at once, since a backup may run for hours. The
// kernel releases the lock when its holder exits, so a killed job leaves nothing to clean up.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "common/cancel.h"
#include "common/result.h"

namespace ferry {

class LayoutLock {
 public:
  enum class Kind { kShared, kExclusive };

  // Takes the lock of the layout in `dir` for `job` (named in messages, "backup"). kShared
  // waits while a forget holds it: `waiting` (optional) is called once when the wait begins,
  // and `cancel` (optional) ends it with kCancelled. Errors: kUnavailable for kExclusive while
  // another job holds it, naming the directory; kIoError / kPermissionDenied for the lock file.
  static Result<LayoutLock> Acquire(const std::string& dir, Kind kind, std::string_view job,
                                    const CancelToken* cancel = nullptr,
                                    const std::function<void()>& waiting = {});

  LayoutLock(LayoutLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  LayoutLock& operator=(LayoutLock&& other) noexcept;
  LayoutLock(const LayoutLock&) = delete;
  LayoutLock& operator=(const LayoutLock&) = delete;
  ~LayoutLock();  // Releases.

 private:
  explicit LayoutLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ferry
