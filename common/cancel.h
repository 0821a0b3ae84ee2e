// CancelToken: how a caller asks a running job to stop. Jobs poll cancelled() between units of
// work (a buffer, a chunk) and return kCancelled. Thread-safe: Cancel() may be called from any
// thread, including a signal handler (it is a lock-free atomic store).
#pragma once

#include <atomic>

namespace ferry {

class CancelToken {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace ferry
