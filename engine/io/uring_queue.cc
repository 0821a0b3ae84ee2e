#include "engine/io/uring_queue.h"

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>
#include <liburing.h>

#if defined(__SANITIZE_ADDRESS__)
#define FERRY_HAS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FERRY_HAS_ASAN 1
#endif
#endif
#ifdef FERRY_HAS_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace ferry::io {

namespace {

// ASan cannot see the kernel's reads and writes of our buffers, so check what we hand it, as
// liburing's own --enable-sanitizer does (Debian's liburing 2.3 predates that).
void CheckBufferNotPoisoned(const IoRequest& req) {
#ifdef FERRY_HAS_ASAN
  if (req.len > 0 && __asan_region_is_poisoned(req.buf, req.len) != nullptr) {
    std::fprintf(stderr, "ferry: io_uring request (tag %llu) uses a poisoned buffer\n",
                 static_cast<unsigned long long>(req.tag));
    std::abort();
  }
#else
  (void)req;
#endif
}

class UringQueue final : public IoQueue {
 public:
  explicit UringQueue(unsigned depth) : depth_(depth), slots_(depth) {
    free_.reserve(depth);
    for (unsigned i = depth; i > 0; --i) free_.push_back(i - 1);
  }
  ~UringQueue() override {
    if (!initialised_) return;
    // Requests still in the kernel would write into buffers the caller is about to free.
    std::vector<IoCompletion> drain;
    while (in_flight_ > 0 && Reap(in_flight_, &drain).has_value()) {
    }
    io_uring_queue_exit(&ring_);
  }

  Status Init() {
    const int rc = io_uring_queue_init(depth_, &ring_, 0);
    if (rc < 0) return Status::FromErrno(-rc, "io_uring_queue_init");
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    const bool ok = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_READ) &&
                    io_uring_opcode_supported(probe, IORING_OP_WRITE);
    if (probe != nullptr) io_uring_free_probe(probe);
    if (!ok) {
      io_uring_queue_exit(&ring_);
      return Status::NotSupported("the kernel's io_uring lacks IORING_OP_READ/WRITE");
    }
    initialised_ = true;
    return Status();
  }

  std::string_view name() const override { return "io_uring"; }
  unsigned depth() const override { return depth_; }
  size_t in_flight() const override { return in_flight_; }

  void Submit(const IoRequest& req) override {
    assert(!free_.empty());
    CheckBufferNotPoisoned(req);
    const unsigned slot = free_.back();
    free_.pop_back();
    slots_[slot] = Slot{req, 0};
    ++in_flight_;
    Prepare(slot);
  }

  Result<size_t> Reap(size_t min_complete, std::vector<IoCompletion>* out) override {
    size_t appended = 0;
    for (;;) {
      const unsigned wait = appended < min_complete ? 1 : 0;
      int rc = io_uring_submit_and_wait(&ring_, wait);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        return Err(Status::FromErrno(-rc, "io_uring_submit_and_wait"));
      }
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        if (Complete(static_cast<unsigned>(io_uring_cqe_get_data64(cqe)), cqe->res, out)) {
          ++appended;
        }
      }
      io_uring_cq_advance(&ring_, seen);
      if (appended >= min_complete || in_flight_ == 0) return appended;
    }
  }

  Status Flush() override {
    const int rc = io_uring_submit(&ring_);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      return Status::FromErrno(-rc, "io_uring_submit");
    }
    return Status();
  }

  Status RegisterBuffers(std::span<const MutableByteView> buffers) override {
    std::vector<iovec> iov;
    iov.reserve(buffers.size());
    for (const auto& b : buffers) iov.push_back({b.data(), b.size()});
    const int rc = io_uring_register_buffers(&ring_, iov.data(), static_cast<unsigned>(iov.size()));
    if (rc < 0) return Status::FromErrno(-rc, "io_uring_register_buffers");
    return Status();
  }

 private:
  struct Slot {
    IoRequest req;
    size_t done;  // Bytes already transferred (short transfers are requeued for the rest).
  };

  void Prepare(unsigned slot) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // The submission ring is full of unsent entries: send them to make room. Cannot fail
      // for lack of space since in_flight_ <= depth_ entries exist in all.
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      assert(sqe != nullptr);
    }
    const Slot& s = slots_[slot];
    std::byte* buf = s.req.buf + s.done;
    const auto len = static_cast<unsigned>(s.req.len - s.done);
    const uint64_t off = s.req.offset + s.done;
    if (s.req.buf_index >= 0) {
      if (s.req.op == IoOp::kRead) {
        io_uring_prep_read_fixed(sqe, s.req.fd, buf, len, off, s.req.buf_index);
      } else {
        io_uring_prep_write_fixed(sqe, s.req.fd, buf, len, off, s.req.buf_index);
      }
    } else if (s.req.op == IoOp::kRead) {
      io_uring_prep_read(sqe, s.req.fd, buf, len, off);
    } else {
      io_uring_prep_write(sqe, s.req.fd, buf, len, off);
    }
    io_uring_sqe_set_data64(sqe, slot);
  }

  // Handles one CQE; returns true if it finished its request (and appended a completion).
  bool Complete(unsigned slot, int res, std::vector<IoCompletion>* out) {
    Slot& s = slots_[slot];
    if (res == -EAGAIN || res == -EINTR) {
      Prepare(slot);
      return false;
    }
    if (res > 0) {
      s.done += static_cast<size_t>(res);
      if (s.done < s.req.len) {
        // Short read or write: advance and requeue (io_uring-cp does the same).
        Prepare(slot);
        return false;
      }
    }
    int64_t result = static_cast<int64_t>(s.done);
    if (res < 0) {
      result = res;
    } else if (res == 0 && s.req.op == IoOp::kWrite && s.done < s.req.len) {
      result = -EIO;  // A write that makes no progress would loop forever.
    }
    out->push_back({s.req.tag, result});
    free_.push_back(slot);
    --in_flight_;
    return true;
  }

  unsigned depth_;
  io_uring ring_{};
  bool initialised_ = false;
  std::vector<Slot> slots_;
  std::vector<unsigned> free_;
  size_t in_flight_ = 0;
};

}  // namespace

Result<std::unique_ptr<IoQueue>> CreateUringQueue(unsigned depth) {
  auto q = std::make_unique<UringQueue>(depth);
  FERRY_RETURN_IF_ERROR(q->Init());
  return std::unique_ptr<IoQueue>(std::move(q));
}

}  // namespace ferry::io
