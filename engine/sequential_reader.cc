#include "engine/sequential_reader.h"

#include <cerrno>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry {

namespace {

// Files of /proc and /sys report a size of 0 and yet have content: read as a stream, or they
// would be backed up as empty volumes.
bool SaysEmptyButIsNot(int fd, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
  char byte;
  return ::pread(fd, &byte, 1, 0) == 1;
}

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
  r->pipe_ = !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) || SaysEmptyButIsNot(r->fd_, st);
  if (r->pipe_) {
    r->buffers_.emplace_back(options.buffer_size);
    return r;
  }
  if (path == "-") {
    r->size_ = static_cast<uint64_t>(st.st_size);
  } else {
    FERRY_ASSIGN_OR_RETURN(r->size_, r->file_.Size());
  }
  FERRY_ASSIGN_OR_RETURN(auto created,
                         io::CreateIoQueue({.kind = options.backend, .depth = options.buffers}));
  r->queue_ = std::move(created.queue);
  r->fallback_reason_ = std::move(created.fallback_reason);
  return r;
}

SequentialReader::~SequentialReader() {
  // The queue first: its destructor waits for reads still in the kernel (a backup that failed
  // or was cancelled leaves some), which would otherwise land in buffers_ after they were
  // freed. Members die in reverse order of declaration, which is buffers_ first: that corrupted
  // the heap once freed buffers were reused rather than unmapped (common/malloc_tuning.h).
  queue_.reset();
}

std::string_view SequentialReader::backend_name() const {
  return pipe_ ? std::string_view("read") : queue_->name();
}

void SequentialReader::SetRanges(cbt::ExtentList ranges) { custom_ranges_ = std::move(ranges); }

Status SequentialReader::Start() {
  started_ = true;
  // The buffers come with the first streamed read, not with Open(): a reader opened for random
  // reads only (one per worker of the qcow2 layout) never pins them.
  buffers_.reserve(options_.buffers);
  std::vector<MutableByteView> regions;
  for (unsigned i = 0; i < options_.buffers; ++i) {
    buffers_.emplace_back(options_.buffer_size);
    regions.push_back(buffers_.back().span());
  }
  // Registered buffers save a page walk per read; RLIMIT_MEMLOCK may refuse them, which only
  // costs that saving.
  registered_ = queue_->RegisterBuffers(regions).ok();
  slots_.resize(options_.buffers);
  if (custom_ranges_) {
    ranges_ = std::move(*custom_ranges_);
  } else if (size_ > 0) {
    ranges_.push_back({0, size_});
  }
  cursor_ = ranges_.empty() ? 0 : ranges_[0].offset;
  for (size_t slot = 0; slot < slots_.size(); ++slot) SubmitNext(slot);
  return Status();
}

void SequentialReader::SubmitNext(size_t slot) {
  Slot& s = slots_[slot];
  s.busy = false;
  while (range_index_ < ranges_.size() && cursor_ >= ranges_[range_index_].end()) {
    if (++range_index_ < ranges_.size()) cursor_ = ranges_[range_index_].offset;
  }
  if (range_index_ >= ranges_.size()) return;
  const uint64_t left = ranges_[range_index_].end() - cursor_;
  s.offset = cursor_;
  s.wanted = static_cast<size_t>(std::min<uint64_t>(left, buffers_[slot].size()));
  // O_DIRECT wants whole blocks: round the request up; only `wanted` bytes are handed out.
  const size_t request =
      std::min(buffers_[slot].size(), (s.wanted + io::kDirectIoAlignment - 1) /
                                          io::kDirectIoAlignment * io::kDirectIoAlignment);
  s.busy = true;
  s.result = INT64_MIN;
  io::IoRequest req;
  req.op = io::IoOp::kRead;
  req.fd = fd_;
  req.offset = s.offset;
  req.buf = buffers_[slot].data();
  req.len = request;
  req.tag = slot;
  req.buf_index = registered_ ? static_cast<int>(slot) : -1;
  queue_->Submit(req);
  cursor_ += s.wanted;
}

Result<ByteView> SequentialReader::Next() {
  FERRY_ASSIGN_OR_RETURN(SourceBuffer b, NextBuffer());
  return b.data;
}

Result<SourceBuffer> SequentialReader::NextBuffer() {
  if (pipe_) return NextFromPipe();
  if (!started_) FERRY_RETURN_IF_ERROR(Start());
  // The buffer handed out last time is free again: reuse it for the next read-ahead.
  if (holding_) {
    SubmitNext((deliver_slot_ + slots_.size() - 1) % slots_.size());
    holding_ = false;
  }
  Slot& s = slots_[deliver_slot_];
  if (!s.busy) return SourceBuffer{size_, {}};
  while (s.result == INT64_MIN) {
    completions_.clear();
    FERRY_RETURN_IF_ERROR(queue_->Reap(1, &completions_));
    for (const auto& c : completions_) slots_[c.tag].result = c.result;
  }
  if (s.result < 0) {
    return Err(Status::FromErrno(static_cast<int>(-s.result),
                                 fmt::format("read {} at offset {}", path_, s.offset)));
  }
  if (static_cast<uint64_t>(s.result) < s.wanted) {
    return Err(Status::IoError(fmt::format(
        "{} ended at offset {} while its size is {}: the source shrank or vanished during the "
        "read",
        path_, s.offset + static_cast<uint64_t>(s.result), size_)));
  }
  SourceBuffer out{s.offset, {buffers_[deliver_slot_].data(), s.wanted}};
  deliver_slot_ = (deliver_slot_ + 1) % slots_.size();
  holding_ = true;
  return out;
}

Result<SourceBuffer> SequentialReader::NextFromPipe() {
  io::AlignedBuffer& buf = buffers_[0];
  size_t filled = 0;
  // Fill the whole buffer when the pipe allows, so chunking sees large spans.
  while (filled < buf.size()) {
    const ssize_t n = ::read(fd_, buf.data() + filled, buf.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err(Status::FromErrno(
          errno, fmt::format("read {} at offset {}", path_, pipe_offset_ + filled)));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  SourceBuffer out{pipe_offset_, {buf.data(), filled}};
  pipe_offset_ += filled;
  return out;
}

}  // namespace ferry
