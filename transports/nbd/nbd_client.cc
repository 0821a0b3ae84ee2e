#include "transports/nbd/nbd_client.h"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "common/env.h"

#include "transports/nbd/nbd_library.h"

namespace ferry::nbd {

namespace {

// Servers limit a request (qemu-nbd: 32 MiB); stay well below.
constexpr size_t kMaxRequest = 4u << 20;
// How long one poll waits before counting the time as silence.
constexpr int kPollSliceMs = 500;

}  // namespace

bool IsNbdUri(std::string_view path) {
  return path.starts_with("nbd://") || path.starts_with("nbds://") ||
         path.starts_with("nbd+unix://") || path.starts_with("nbds+unix://");
}

std::string DirtyBitmapContext(std::string_view bitmap) {
  return fmt::format("qemu:dirty-bitmap:{}", bitmap);
}

Status NbdClient::Error(std::string_view what) const {
  const char* message = lib_.get_error();
  return Status::IoError(fmt::format("{} {}: {}", what, uri_, message ? message : "unknown error"));
}

Result<std::unique_ptr<NbdClient>> NbdClient::Connect(const std::string& uri,
                                                      const std::vector<std::string>& contexts,
                                                      const CancelToken* cancel) {
  FERRY_ASSIGN_OR_RETURN(const NbdLibrary* lib, LoadNbd());
  nbd_handle* h = lib->create();
  if (h == nullptr) return Err(Status::IoError(fmt::format("libnbd: {}", lib->get_error())));
  std::unique_ptr<NbdClient> client(new NbdClient(*lib, uri, h));
  client->answer_timeout_ = SecondsFromEnv("FERRY_NBD_TIMEOUT_SECONDS", std::chrono::seconds(300));
  client->cancel_ = cancel;
  for (const std::string& c : contexts) {
    if (lib->add_meta_context(h, c.c_str()) == -1) return Err(client->Error("NBD context for"));
  }
  // The handshake is bounded like every read: a server that accepts and then says nothing
  // would otherwise hold the backup forever.
  Status connected;
  if (lib->aio_connect_uri(h, uri.c_str()) == -1) {
    connected = client->Error("connect to");
    if (lib->get_errno() == EINVAL) connected = Status::InvalidArgument(connected.message());
  } else {
    connected = client->PollUntil(
        [&] {
          if (lib->aio_is_connecting(h) == 1) return 0;
          return lib->aio_is_ready(h) == 1 ? 1 : -1;
        },
        [] { return std::string("connect to"); });
  }
  if (!connected.ok()) {
    if (connected.code() == Status::Code::kIoError) {
      return Err(Status::Unavailable(connected.message()));
    }
    return Err(connected);
  }
  const int64_t size = lib->get_size(h);
  if (size < 0) return Err(client->Error("size of"));
  client->size_ = static_cast<uint64_t>(size);
  client->multi_conn_ = lib->can_multi_conn(h) == 1;
  for (const std::string& c : contexts) {
    if (lib->can_meta_context(h, c.c_str()) == 1) client->contexts_.push_back(c);
  }
  return client;
}

NbdClient::~NbdClient() {
  // The goodbye waits for the server to close the connection; one that stopped answering never
  // would.
  if (abandoned_.ok()) lib_.shutdown(handle_, 0);
  lib_.close(handle_);
}

bool NbdClient::HasContext(std::string_view context) const {
  for (const std::string& c : contexts_) {
    if (c == context) return true;
  }
  return false;
}

Status NbdClient::Read(MutableByteView out, uint64_t offset) {
  for (size_t done = 0; done < out.size();) {
    const size_t n = std::min(kMaxRequest, out.size() - done);
    const int64_t cookie =
        lib_.aio_pread(handle_, out.data() + done, n, offset + done, nbd_completion_callback{}, 0);
    if (cookie == -1) return Error(fmt::format("read at offset {} of", offset + done));
    FERRY_RETURN_IF_ERROR(AwaitCommand(cookie, offset + done));
    done += n;
  }
  return Status();
}

void NbdClient::StartStream(cbt::ExtentList ranges, const NbdStreamOptions& options) {
  // A failed stream keeps its buffers, with the reads that may still come into them.
  if (!stream_error_.ok()) return;
  // The reads of a stream before land in its slots' buffers: none may still be on its way.
  for (StreamSlot& s : slots_) {
    if (s.cookie == -1) continue;
    stream_error_ = AwaitCommand(s.cookie, s.offset);
    if (!stream_error_.ok()) return;
    s.cookie = -1;
  }
  next_slot_ = 0;
  holding_ = false;
  piece_size_ = std::clamp<size_t>(options.piece_size, 4096, kMaxRequest);
  ranges_ = std::move(ranges);
  range_index_ = 0;
  cursor_ = ranges_.empty() ? 0 : ranges_.front().offset;
  slots_.resize(std::max(1u, options.depth));
  for (size_t i = 0; i < slots_.size() && stream_error_.ok(); ++i) {
    slots_[i].buffer = std::make_unique_for_overwrite<std::byte[]>(piece_size_);
    stream_error_ = SubmitPiece(i);
  }
}

Status NbdClient::SubmitPiece(size_t slot) {
  while (range_index_ < ranges_.size() && cursor_ >= ranges_[range_index_].end()) {
    if (++range_index_ < ranges_.size()) cursor_ = ranges_[range_index_].offset;
  }
  StreamSlot& s = slots_[slot];
  s.cookie = -1;
  if (range_index_ == ranges_.size()) return Status();
  s.offset = cursor_;
  s.length =
      static_cast<size_t>(std::min<uint64_t>(piece_size_, ranges_[range_index_].end() - cursor_));
  // No completion callback: NextPiece() asks libnbd whether the read is done.
  s.cookie =
      lib_.aio_pread(handle_, s.buffer.get(), s.length, s.offset, nbd_completion_callback{}, 0);
  if (s.cookie == -1) return Error(fmt::format("read at offset {} of", s.offset));
  cursor_ += s.length;
  return Status();
}

template <class State, class What>
Status NbdClient::PollUntil(State state, What what) {
  // Once a wait gave up, no other waits: its answer could still come, into a buffer (or an
  // extent callback's state) its caller has given up.
  if (!abandoned_.ok()) return abandoned_;
  int silent_ms = 0;
  for (;;) {
    const int s = state();
    if (s == 1) return Status();
    if (s == -1) return Error(what());
    const int polled = lib_.poll(handle_, kPollSliceMs);
    if (polled == -1) return Error(what());
    silent_ms = polled == 0 ? silent_ms + kPollSliceMs : 0;
    if (silent_ms >= answer_timeout_.count() * 1000) {
      abandoned_ = Status::Unavailable(
          fmt::format("{} {}: the NBD server did not answer for {} s (FERRY_NBD_TIMEOUT_SECONDS)",
                      what(), uri_, answer_timeout_.count()));
      return abandoned_;
    }
    if (cancel_ != nullptr && cancel_->cancelled()) {
      abandoned_ = Status::Cancelled(
          fmt::format("{} {}: cancelled while waiting for the NBD server", what(), uri_));
      return abandoned_;
    }
  }
}

Status NbdClient::AwaitCommand(int64_t cookie, uint64_t offset) {
  return PollUntil(
      [&] { return lib_.aio_command_completed(handle_, static_cast<uint64_t>(cookie)); },
      [&] { return fmt::format("read at offset {} of", offset); });
}

Result<NbdPiece> NbdClient::NextPiece() {
  if (!stream_error_.ok()) return Err(stream_error_);
  const size_t depth = slots_.size();
  if (holding_) {
    // The caller is done with the previous piece: its slot reads the next one, behind the rest.
    holding_ = false;
    stream_error_ = SubmitPiece((next_slot_ + depth - 1) % depth);
    if (!stream_error_.ok()) return Err(stream_error_);
  }
  StreamSlot& s = slots_[next_slot_];
  if (s.cookie == -1) return NbdPiece{cursor_, {}};
  stream_error_ = AwaitCommand(s.cookie, s.offset);
  if (!stream_error_.ok()) return Err(stream_error_);
  s.cookie = -1;
  next_slot_ = (next_slot_ + 1) % depth;
  holding_ = true;
  return NbdPiece{s.offset, ByteView(s.buffer.get(), s.length)};
}

namespace {

struct Collect {
  std::string_view context;
  bool (*want)(uint32_t);
  cbt::ExtentList* out;
  uint64_t reached = 0;  // End of the last extent reported.
};

int OnExtents(void* user, const char* metacontext, uint64_t offset, uint32_t* entries, size_t count,
              int* /*error*/) {
  auto* c = static_cast<Collect*>(user);
  if (c->context != metacontext) return 0;
  for (size_t i = 0; i + 1 < count; i += 2) {
    const uint64_t length = entries[i];
    if (c->want(entries[i + 1]) && length > 0) {
      if (!c->out->empty() && c->out->back().end() == offset) {
        c->out->back().length += length;
      } else {
        c->out->push_back({offset, length});
      }
    }
    offset += length;
  }
  c->reached = std::max(c->reached, offset);
  return 0;
}

}  // namespace

Result<cbt::ExtentList> NbdClient::RangesWhere(std::string_view context,
                                               bool (*want)(uint32_t flags)) {
  cbt::ExtentList out;
  Collect collect{context, want, &out};
  constexpr uint64_t kMaxQuery = uint64_t{1} << 30;  // Block status lengths are 32-bit.
  for (uint64_t at = 0; at < size_;) {
    collect.reached = at;
    const uint64_t n = std::min(kMaxQuery, size_ - at);
    auto what = [&] { return fmt::format("block status ({}) at offset {} of", context, at); };
    const int64_t cookie =
        lib_.aio_block_status(handle_, n, at, nbd_extent_callback{OnExtents, &collect, nullptr},
                              nbd_completion_callback{}, 0);
    if (cookie == -1) return Err(Error(what()));
    FERRY_RETURN_IF_ERROR(PollUntil(
        [&] { return lib_.aio_command_completed(handle_, static_cast<uint64_t>(cookie)); }, what));
    if (collect.reached <= at) {
      return Err(Status::IoError(fmt::format(
          "block status ({}) of {}: the server reported nothing at offset {}", context, uri_, at)));
    }
    at = std::min(collect.reached, size_);
  }
  // The last extent may run past the end of the export.
  while (!out.empty() && out.back().offset >= size_) out.pop_back();
  if (!out.empty() && out.back().end() > size_) out.back().length = size_ - out.back().offset;
  return out;
}

}  // namespace ferry::nbd
