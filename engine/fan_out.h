// FanOut: items produced on the calling thread and consumed by worker threads that each own
// their state (a reader that must not be shared, a hasher). It is how a job keeps random reads
// in flight together — the samples of --cbt-verify — when each read is a blocking call: one at
// a time, the disk (or server) waits for the caller between reads.
//
// Thread-safety: `open` runs on every worker, possibly at the same time; `consume` on the worker
// whose state it is given; `produce` on the calling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"

#include "engine/bounded_queue.h"

namespace ferry {

// Starts `workers` threads (at least one), each of which calls `open` once and then
// `consume(state, item)` for the items it takes, while `produce(push)` runs here and hands items
// over with `push` (which blocks while every worker is busy and a few items wait). The first
// error of any of them ends the rest: `push` then returns false, and `produce` should return.
// Returns that error (a worker's before the producer's), else OK once every item is consumed.
template <class Item, class State>
Status FanOut(unsigned workers,
              const std::function<Status(const std::function<bool(Item)>& push)>& produce,
              const std::function<Result<State>()>& open,
              const std::function<Status(State& state, Item& item)>& consume) {
  workers = std::max(workers, 1u);
  BoundedQueue<Item> queue(size_t{workers} * 2);
  std::mutex mu;
  Status first;  // GUARDED_BY(mu)
  std::atomic<bool> failed{false};
  auto fail = [&](Status s) {
    {
      std::lock_guard lock(mu);
      if (first.ok()) first = std::move(s);
    }
    failed = true;
    queue.Close();  // Wakes the producer; what is queued is drained unconsumed.
  };
  std::vector<std::jthread> pool;
  pool.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) {
    pool.emplace_back([&] {
      Result<State> state = open();
      if (!state) return fail(state.error());
      while (std::optional<Item> item = queue.Pop()) {
        if (failed.load(std::memory_order_relaxed)) continue;
        if (Status s = consume(*state, *item); !s.ok()) return fail(std::move(s));
      }
    });
  }
  Status produced =
      produce([&](Item item) { return !failed.load() && queue.Push(std::move(item)); });
  if (!produced.ok()) failed = true;  // What is queued is not worth consuming either.
  queue.Close();
  pool.clear();  // Joins.
  std::lock_guard lock(mu);
  return first.ok() ? produced : first;
}

}  // namespace ferry
