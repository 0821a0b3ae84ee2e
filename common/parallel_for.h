// ParallelFor: runs fn(0) … fn(n-1) on up to `threads` threads, for independent blocking jobs
// such as one request per object. Stops handing out work at the first error and returns it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"

namespace ferry {

inline Status ParallelFor(size_t n, unsigned threads, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;  // GUARDED_BY(mu)
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first.ok()) first = std::move(s);
        failed = true;
      }
    }
  };
  const size_t extra = std::min<size_t>(std::max(threads, 1u), n) - (n > 0 ? 1 : 0);
  std::vector<std::jthread> pool;
  pool.reserve(extra);
  for (size_t i = 0; i < extra; ++i) pool.emplace_back(work);
  work();
  pool.clear();  // Joins.
  return first;
}

}  // namespace ferry
