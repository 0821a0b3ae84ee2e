#include "engine/window_writer.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "common/file_io.h"

#include "cbt/changed_list.h"
#include "engine/progress.h"

namespace ferry {

Status WindowWriter::CheckWindowSize(size_t window_size) {
  if (window_size == 0 || window_size % kBlock != 0) {
    return Status::InvalidArgument(fmt::format(
        "restore window of {} bytes: must be a non-zero multiple of {}", window_size, kBlock));
  }
  return Status();
}

Result<std::unique_ptr<WindowWriter>> WindowWriter::Create(const WindowTarget& target,
                                                           size_t window_size, unsigned buffers) {
  FERRY_RETURN_IF_ERROR(CheckWindowSize(window_size));
  if (buffers == 0) return Err(Status::InvalidArgument("a window writer needs a buffer"));
  std::unique_ptr<WindowWriter> w(new WindowWriter(target, window_size));
  // Each buffer has several writes at most (one per dirty run); the queue reaps when full.
  FERRY_ASSIGN_OR_RETURN(io::CreatedIoQueue q,
                         io::CreateIoQueue({.depth = std::max(8u, buffers * 2)}));
  // (A stream target uses no queue, but an idle one costs nothing and keeps Run simple.)
  w->queue_ = std::move(q.queue);
  w->backend_ = target.stream ? "write" : std::string(w->queue_->name());
  w->arena_ = io::AlignedBuffer(w->buffer_size_ * buffers, kBlock);
  std::vector<MutableByteView> views;
  for (unsigned i = 0; i < buffers; ++i) {
    views.push_back(w->arena_.span().subspan(i * w->buffer_size_, w->buffer_size_));
  }
  w->buffers_ = views;
  w->free_ = views;
  w->in_flight_.resize(buffers);
  return w;
}

WindowWriter::~WindowWriter() {
  // The kernel may still own buffers if Run() was never called to the end.
  std::vector<io::IoCompletion> completions;
  while (queue_ != nullptr && queue_->in_flight() > 0) {
    if (!queue_->Reap(1, &completions)) break;
  }
}

int WindowWriter::BufferIndex(const MutableByteView& buffer) const {
  return static_cast<int>((buffer.data() - arena_.data()) / static_cast<ptrdiff_t>(buffer_size_));
}

MutableByteView WindowWriter::Acquire(const WindowRange& window) {
  std::unique_lock lock(mu_);
  free_cv_.wait(lock, [&] {
    const bool in_turn = !target_.stream || window.index < stream_next_ + buffers_.size();
    return failed_ || (!free_.empty() && in_turn);
  });
  if (failed_) return {};
  MutableByteView b = free_.back();
  free_.pop_back();
  return b;
}

void WindowWriter::Commit(const WindowRange& window, MutableByteView buffer, cbt::ExtentList dirty,
                          uint64_t covered) {
  std::unique_ptr<PreparedWindow> prepared;
  if (target_.placer != nullptr && !buffer.empty()) {
    // A placer's windows are whole clusters (window_size() each), so they start on a block.
    auto p = target_.placer->Prepare(window.start, buffer.first(window_size_), dirty);
    if (!p) {
      Fail(p.error());
      Release(buffer);
      return;
    }
    prepared = std::move(*p);
  }
  {
    std::lock_guard lock(mu_);
    committed_.push_back({window, buffer, std::move(dirty), covered, std::move(prepared)});
  }
  committed_cv_.notify_one();
}

void WindowWriter::Release(MutableByteView buffer) {
  {
    std::lock_guard lock(mu_);
    free_.push_back(buffer);
  }
  free_cv_.notify_one();
}

void WindowWriter::Fail(const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (!failed_) error_ = status;
    failed_ = true;
  }
  free_cv_.notify_all();
  committed_cv_.notify_all();
}

bool WindowWriter::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

void WindowWriter::PlainWrites(Committed& window, std::vector<WindowPlacer::Write>* writes) {
  const uint64_t start = window.range.start;
  const uint64_t end = window.range.end;
  const uint64_t base = BufferBase(start);
  auto bytes_at = [&](uint64_t offset) { return window.buffer.data() + (offset - base); };
  // The blocks this window shares with its neighbours: its own bytes of them only, exactly.
  const uint64_t head_end = start % kBlock != 0 ? std::min(AlignUp(start, kBlock), end) : start;
  const uint64_t tail_begin =
      end % kBlock != 0 && end < target_.size ? std::max(AlignDown(end, kBlock), head_end) : end;
  // The rest: dirty ranges → block-aligned runs, merged, never past the window's own blocks or
  // the volume's last block.
  const uint64_t own_end =
      tail_begin < end ? tail_begin : std::min(AlignUp(end, kBlock), AlignUp(target_.size, kBlock));
  cbt::ExtentList runs;
  for (const cbt::ByteRange& d : window.dirty) {
    for (const auto& [from, to] : {std::pair{start, head_end}, std::pair{tail_begin, end}}) {
      const uint64_t b = std::max(d.offset, from);
      const uint64_t f = std::min(d.end(), to);
      if (b < f) writes->push_back({b, bytes_at(b), static_cast<size_t>(f - b)});
    }
    const uint64_t b = std::max(d.offset, head_end);
    const uint64_t f = std::min(d.end(), tail_begin);
    if (b < f) {
      const uint64_t begin = AlignDown(b, kBlock);
      runs.push_back({begin, std::min(AlignUp(f, kBlock), own_end) - begin});
    }
  }
  for (cbt::ByteRange run : cbt::Normalize(std::move(runs))) {
    // A partial last block goes through the buffered descriptor: O_DIRECT needs whole blocks
    // and writing the whole block would grow the file past the volume.
    if (run.end() > target_.size) {
      const uint64_t tail = target_.direct ? AlignDown(target_.size, kBlock) : target_.size;
      if (target_.direct && tail < run.end()) {
        const uint64_t from = std::max(tail, run.offset);
        Status s =
            WriteFullAt(target_.tail_fd, {bytes_at(from), static_cast<size_t>(target_.size - from)},
                        from, target_.name);
        if (!s.ok()) {
          Fail(s);
          return;
        }
        bytes_written_ += target_.size - from;
      }
      run.length = tail > run.offset ? tail - run.offset : 0;
      if (run.length == 0) continue;
    }
    writes->push_back({run.offset, bytes_at(run.offset), static_cast<size_t>(run.length)});
  }
}

void WindowWriter::SubmitWrite(const WindowPlacer::Write& w, int index,
                               std::vector<io::IoCompletion>* completions) {
  while (queue_->in_flight() >= queue_->depth()) {
    completions->clear();
    auto n = queue_->Reap(1, completions);
    if (!n) {
      Fail(n.error());
      return;
    }
    Complete(*completions);
  }
  if (failed()) return;
  const auto address = reinterpret_cast<uintptr_t>(w.data);
  const bool aligned = w.offset % kBlock == 0 && w.length % kBlock == 0 && address % kBlock == 0;
  // Bytes a placer keeps outside the window buffers (compressed data) are not registered.
  const std::byte* window = arena_.data() + static_cast<size_t>(index) * buffer_size_;
  const bool in_window = w.data >= window && w.data + w.length <= window + buffer_size_;
  ++in_flight_[static_cast<size_t>(index)].writes_left;
  queue_->Submit({.op = io::IoOp::kWrite,
                  .fd = !target_.direct || aligned ? target_.fd : target_.tail_fd,
                  .offset = w.offset,
                  .buf = const_cast<std::byte*>(w.data),
                  .len = w.length,
                  .tag = static_cast<uint64_t>(index),
                  .buf_index = registered_ && in_window ? index : -1});
}

void WindowWriter::SubmitWindow(Committed& window, std::vector<io::IoCompletion>* completions) {
  covered_ += window.covered;
  if (window.buffer.empty()) return;
  const int index = BufferIndex(window.buffer);
  InFlight& slot = in_flight_[static_cast<size_t>(index)];
  slot.buffer = window.buffer;
  slot.prepared = std::move(window.prepared);
  slot.writes_left = 1;  // Held until every write is queued, so a fast completion cannot free it.
  writes_.clear();
  if (target_.placer != nullptr) {
    Status s = target_.placer->Place(*slot.prepared, &writes_);
    if (!s.ok()) Fail(s);
  } else {
    PlainWrites(window, &writes_);
  }
  for (const WindowPlacer::Write& w : writes_) {
    if (failed()) break;
    SubmitWrite(w, index, completions);
  }
  // Drop the hold; a window with nothing to write is free at once.
  if (--slot.writes_left == 0) Finished(slot);
}

void WindowWriter::Finished(InFlight& slot) {
  slot.prepared.reset();
  Release(slot.buffer);
}

void WindowWriter::Complete(const std::vector<io::IoCompletion>& completions) {
  for (const io::IoCompletion& c : completions) {
    InFlight& slot = in_flight_[c.tag];
    if (!c.ok()) {
      Fail(Status::FromErrno(static_cast<int>(-c.result), "write " + target_.name));
    } else {
      bytes_written_ += static_cast<uint64_t>(c.result);
    }
    if (--slot.writes_left == 0) Finished(slot);
  }
}

Status WindowWriter::RunStream(const std::function<bool()>& producers_done,
                               const std::function<void(uint64_t)>& tick) {
  ProgressTicker ticker;
  std::map<uint64_t, Committed> waiting;  // Committed ahead of the next window, by index.
  uint64_t written_to = 0;                // Where the next window must start.
  std::deque<Committed> batch;
  for (bool done = false; !done;) {
    {
      std::unique_lock lock(mu_);
      committed_cv_.wait_for(lock, kProgressInterval,
                             [&] { return failed_ || !committed_.empty() || producers_done(); });
      if (failed_) break;
      // Workers commit before they finish: once all have, everything is in committed_.
      done = committed_.empty() && producers_done();
      batch.swap(committed_);
    }
    for (Committed& w : batch) waiting.emplace(w.range.index, std::move(w));
    batch.clear();
    for (auto it = waiting.begin(); it != waiting.end() && it->first == stream_next_;) {
      const Committed& w = it->second;
      const size_t length = static_cast<size_t>(w.range.end - w.range.start);
      const size_t skip = static_cast<size_t>(w.range.start - BufferBase(w.range.start));
      Status s;
      if (w.range.start != written_to || w.range.end > target_.size) {
        s = Status::InvalidArgument(
            fmt::format("stream window {} covers [{}, {}), but the stream is at {} of {}",
                        w.range.index, w.range.start, w.range.end, written_to, target_.size));
      } else if (w.buffer.size() < skip + length) {
        s = Status::InvalidArgument("a window for a stream came without its bytes");
      } else {
        s = WriteFull(target_.fd, w.buffer.subspan(skip, length), target_.name);
      }
      const uint64_t end = w.range.end;
      if (!w.buffer.empty()) Release(w.buffer);
      covered_ += w.covered;
      it = waiting.erase(it);  // `w` is gone.
      if (!s.ok()) {
        Fail(s);
        break;
      }
      bytes_written_ += length;
      written_to = end;
      {
        std::lock_guard lock(mu_);
        ++stream_next_;
      }
      free_cv_.notify_all();  // A window further on may now take a buffer.
    }
    if (ticker.Due()) tick(covered_);
  }
  for (auto& [index, w] : waiting) {
    if (!w.buffer.empty()) Release(w.buffer);
  }
  std::lock_guard lock(mu_);
  if (!failed_ && !waiting.empty()) {
    return Status::IoError(
        fmt::format("window {} (at offset {}) never came", stream_next_, written_to));
  }
  return failed_ ? error_ : Status();
}

Status WindowWriter::Run(const std::function<bool()>& producers_done,
                         const std::function<void(uint64_t)>& tick) {
  if (target_.stream) return RunStream(producers_done, tick);
  // Registration only saves the kernel a page walk per write; without it (a small
  // RLIMIT_MEMLOCK) writes work the same. Pinning faults in every page of the buffers (7 ms
  // for 24 MiB here, four times that for S3's 96 MiB), so it happens here, while the workers
  // make their first reads, rather than in Create, where it delayed them.
  registered_ = queue_->RegisterBuffers(buffers_).ok();
  ProgressTicker ticker;
  std::vector<io::IoCompletion> completions;
  std::deque<Committed> batch;
  for (;;) {
    bool finished = false;
    {
      std::unique_lock lock(mu_);
      if (committed_.empty() && queue_->in_flight() == 0) {
        if (failed_ || producers_done()) {
          finished = true;
        } else {
          committed_cv_.wait_for(lock, kProgressInterval);
        }
      }
      batch.swap(committed_);
    }
    if (finished) break;
    for (Committed& w : batch) {
      if (failed()) {
        if (!w.buffer.empty()) Release(w.buffer);
      } else {
        SubmitWindow(w, &completions);
      }
    }
    const bool fresh = !batch.empty();
    batch.clear();
    if (queue_->in_flight() > 0) {
      completions.clear();
      // Wait for a write only when there was nothing new to submit: new windows go first.
      auto n = queue_->Reap(fresh ? 0 : 1, &completions);
      if (!n) {
        Fail(n.error());
        // The queue is broken: nothing more will complete; do not touch its buffers again.
        break;
      }
      Complete(completions);
    }
    if (ticker.Due()) tick(covered_);
  }
  std::lock_guard lock(mu_);
  return failed_ ? error_ : Status();
}

}  // namespace ferry
