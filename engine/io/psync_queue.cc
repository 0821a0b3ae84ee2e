#include "engine/io/psync_queue.h"

#include <cassert>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace ferry::io {

namespace {

// Performs one request to completion with pread/pwrite, requeueing short transfers in place.
int64_t RunBlocking(const IoRequest& req) {
  size_t done = 0;
  while (done < req.len) {
    const auto off = static_cast<off_t>(req.offset + done);
    const ssize_t n = req.op == IoOp::kRead ? ::pread(req.fd, req.buf + done, req.len - done, off)
                                            : ::pwrite(req.fd, req.buf + done, req.len - done, off);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -errno;
    }
    if (n == 0) {
      if (req.op == IoOp::kRead) break;  // End of file.
      return -EIO;                       // A write that makes no progress would loop forever.
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

class PsyncQueue final : public IoQueue {
 public:
  PsyncQueue(unsigned depth, unsigned threads) : depth_(depth) {
    workers_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  }

  ~PsyncQueue() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      // Requests never sent are dropped; those a worker holds finish before it exits.
      pending_.clear();
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  std::string_view name() const override { return "psync"; }
  unsigned depth() const override { return depth_; }
  size_t in_flight() const override { return in_flight_; }

  void Submit(const IoRequest& req) override {
    assert(in_flight_ < depth_);
    ++in_flight_;
    batch_.push_back(req);
  }

  Status Flush() override {
    std::lock_guard lock(mu_);
    HandOverBatch();
    return Status();
  }

  Result<size_t> Reap(size_t min_complete, std::vector<IoCompletion>* out) override {
    std::unique_lock lock(mu_);
    HandOverBatch();
    done_cv_.wait(lock, [&] { return done_.size() >= std::min(min_complete, in_flight_); });
    const size_t n = done_.size();
    out->insert(out->end(), done_.begin(), done_.end());
    done_.clear();
    in_flight_ -= n;
    return n;
  }

  Status RegisterBuffers(std::span<const MutableByteView>) override { return Status(); }

 private:
  // REQUIRES: mu_ held.
  void HandOverBatch() {
    if (batch_.empty()) return;
    for (const auto& r : batch_) pending_.push_back(r);
    batch_.clear();
    work_cv_.notify_all();
  }

  void WorkerLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // Stopping, and nothing left to do.
      const IoRequest req = pending_.front();
      pending_.pop_front();
      lock.unlock();
      const int64_t result = RunBlocking(req);
      lock.lock();
      done_.push_back({req.tag, result});
      done_cv_.notify_one();
    }
  }

  const unsigned depth_;
  size_t in_flight_ = 0;          // Touched only by the driving thread.
  std::vector<IoRequest> batch_;  // Submitted, not yet handed to workers (driving thread only).
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<IoRequest> pending_;   // GUARDED_BY(mu_)
  std::vector<IoCompletion> done_;  // GUARDED_BY(mu_)
  bool stopping_ = false;           // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<IoQueue> CreatePsyncQueue(unsigned depth, unsigned threads) {
  if (threads == 0) threads = std::min(depth, 16u);
  return std::make_unique<PsyncQueue>(depth, std::max(threads, 1u));
}

}  // namespace ferry::io
