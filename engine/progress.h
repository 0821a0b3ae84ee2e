// Progress reporting shared by engine jobs. A job calls its ProgressFn from the thread that runs
// it, at most every `kProgressInterval`, and once at the end with done == true.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace ferry {

struct Progress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0 when unknown (a pipe).
  double seconds = 0;        // Since the job started.
  bool done = false;
};

using ProgressFn = std::function<void(const Progress&)>;

inline constexpr std::chrono::milliseconds kProgressInterval{100};

// Rate limiter for progress callbacks: Due() is true at most once per kProgressInterval.
class ProgressTicker {
 public:
  ProgressTicker() : start_(std::chrono::steady_clock::now()), last_(start_) {}
  bool Due() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < kProgressInterval) return false;
    last_ = now;
    return true;
  }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace ferry
