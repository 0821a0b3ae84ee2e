#include "engine/sequential_reader.h"

#include <cerrno>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace {
constexpr int64_t kPendingRead = INT64_MIN;
constexpr int64_t kIdle = INT64_MIN + 1;
}  // namespace

Result<std::unique_ptr<SequentialReader>> SequentialReader::Open(
    const std::string& path, const SequentialReaderOptions& options) {
  if (options.buffer_size == 0 || options.buffer_size % io::kDirectIoAlignment != 0 ||
      options.buffers == 0) {
    return Err(Status::InvalidArgument(
        "reader buffers must be a non-zero multiple of 4096 bytes, at least one of them"));
  }
  std::unique_ptr<SequentialReader> r(new SequentialReader());
  r->path_ = path;
  r->options_ = options;
  if (path == "-") {
    r->fd_ = STDIN_FILENO;
  } else {
    FERRY_ASSIGN_OR_RETURN(r->file_, io::FileHandle::Open(path, {.direct = options.direct}));
    r->fd_ = r->file_.fd();
  }
  struct stat st {};
  if (::fstat(r->fd_, &st) != 0) return Err(Status::FromErrno(errno, "stat " + path));
  if (S_ISDIR(st.st_mode)) return Err(Status::InvalidArgument(path + " is a directory"));
  r->pipe_ = !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
  if (r->pipe_) {
    r->buffers_.emplace_back(options.buffer_size);
    return r;
  }
  if (path == "-") {
    // Standard input redirected from a file: read it positionally like any file.
    r->size_ = static_cast<uint64_t>(st.st_size);
  } else {
    FERRY_ASSIGN_OR_RETURN(r->size_, r->file_.Size());
  }
  FERRY_ASSIGN_OR_RETURN(auto created,
                         io::CreateIoQueue({.kind = options.backend, .depth = options.buffers}));
  r->queue_ = std::move(created.queue);
  r->fallback_reason_ = std::move(created.fallback_reason);
  r->buffers_.reserve(options.buffers);
  std::vector<MutableByteView> regions;
  for (unsigned i = 0; i < options.buffers; ++i) {
    r->buffers_.emplace_back(options.buffer_size);
    regions.push_back(r->buffers_.back().span());
  }
  // Registered buffers save a page walk per read; RLIMIT_MEMLOCK may refuse them, which only
  // costs that saving.
  r->registered_ = r->queue_->RegisterBuffers(regions).ok();
  r->results_.assign(options.buffers, kIdle);
  for (size_t slot = 0; slot < r->buffers_.size(); ++slot) {
    FERRY_RETURN_IF_ERROR(r->SubmitRead(slot));
  }
  return r;
}

SequentialReader::~SequentialReader() = default;

std::string_view SequentialReader::backend_name() const {
  return pipe_ ? std::string_view("read") : queue_->name();
}

Status SequentialReader::SubmitRead(size_t slot) {
  if (eof_submitted_ || (size_ > 0 && next_submit_offset_ >= size_) ||
      (size_ == 0 && next_submit_offset_ > 0)) {
    // Past the known end (a size-0 file gets one read, to learn whether it grew).
    results_[slot] = kIdle;
    eof_submitted_ = true;
    return Status();
  }
  io::IoRequest req;
  req.op = io::IoOp::kRead;
  req.fd = fd_;
  req.offset = next_submit_offset_;
  req.buf = buffers_[slot].data();
  req.len = buffers_[slot].size();
  req.tag = slot;
  req.buf_index = registered_ ? static_cast<int>(slot) : -1;
  queue_->Submit(req);
  results_[slot] = kPendingRead;
  next_submit_offset_ += buffers_[slot].size();
  return Status();
}

Result<ByteView> SequentialReader::Next() {
  if (pipe_) return NextFromPipe();
  if (done_) return ByteView{};
  // The buffer handed out last time is free again: reuse it for the next read-ahead.
  if (have_delivered_) {
    const size_t prev = (deliver_slot_ + buffers_.size() - 1) % buffers_.size();
    FERRY_RETURN_IF_ERROR(SubmitRead(prev));
  }
  while (results_[deliver_slot_] == kPendingRead) {
    completions_.clear();
    FERRY_RETURN_IF_ERROR(queue_->Reap(1, &completions_));
    for (const auto& c : completions_) results_[c.tag] = c.result;
  }
  const int64_t got = results_[deliver_slot_];
  if (got == kIdle || got == 0) {
    done_ = true;
    return ByteView{};
  }
  if (got < 0) {
    return Err(Status::FromErrno(static_cast<int>(-got),
                                 fmt::format("read {} at offset {}", path_, next_deliver_offset_)));
  }
  const auto n = static_cast<size_t>(got);
  ByteView view{buffers_[deliver_slot_].data(), n};
  next_deliver_offset_ += n;
  if (n < buffers_[deliver_slot_].size()) {
    // A short read is the end of the file: later slots hold nothing more.
    eof_submitted_ = true;
    done_ = true;
    // Keep the view valid; further calls return empty.
    have_delivered_ = false;
    return view;
  }
  results_[deliver_slot_] = kIdle;
  deliver_slot_ = (deliver_slot_ + 1) % buffers_.size();
  have_delivered_ = true;
  return view;
}

Result<ByteView> SequentialReader::NextFromPipe() {
  io::AlignedBuffer& buf = buffers_[0];
  size_t filled = 0;
  // Fill the whole buffer when the pipe allows, so chunking sees large spans.
  while (filled < buf.size()) {
    const ssize_t n = ::read(fd_, buf.data() + filled, buf.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err(Status::FromErrno(
          errno, fmt::format("read {} at offset {}", path_, next_deliver_offset_ + filled)));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  next_deliver_offset_ += filled;
  return ByteView{buf.data(), filled};
}

}  // namespace ferry
