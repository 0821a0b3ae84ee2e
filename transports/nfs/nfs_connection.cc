#include "transports/nfs/nfs_connection.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::nfs {

namespace {

// The "-116" of words that end "(-116)", if they do.
std::optional<int> ErrnoAtEnd(std::string_view words) {
  if (!words.ends_with(')')) return std::nullopt;
  const size_t open = words.rfind('(');
  if (open == std::string_view::npos) return std::nullopt;
  int value = 0;
  const char* first = words.data() + open + 1;
  const char* last = words.data() + words.size() - 1;
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || end != last || value >= 0) return std::nullopt;
  return value;
}

}  // namespace

// One call's answer, filled in by the service thread while the caller waits.
struct NfsConnection::Waiter {
  explicit Waiter(Reply r, MutableByteView into = {}) : reply(r), read_into(into) {}
  const Reply reply;
  const MutableByteView read_into;  // Reply::kRead: where the bytes go.
  nfsfh* file = nullptr;
  nfsdir* dir = nullptr;
  nfs_stat_64 stat{};
  size_t count = 0;  // Bytes read or written.
  bool failed = false;
  NfsError error;

  // Notifies under the lock: the caller may return, and the waiter go, as soon as it sees done.
  void Finish() {
    std::lock_guard lock(mu);
    done = true;
    cv.notify_one();
  }
  void Wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
  }

 private:
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

// What libnfs is given as a call's private data. It lives until libnfs calls back (even after
// the caller stopped waiting, when the connection failed: waiter is then null), so a late answer
// never touches a caller's stack.
struct NfsConnection::Slot {
  NfsConnection* connection;
  Waiter* waiter;
};

NfsConnection::NfsConnection(nfs_context* ctx, int wake_fd) : ctx_(ctx), wake_fd_(wake_fd) {}

Result<std::unique_ptr<NfsConnection>> NfsConnection::Start(nfs_context* ctx) {
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    nfs_destroy_context(ctx);
    return Err(Status::FromErrno(err, "make an NFS connection's wakeup eventfd"));
  }
  std::unique_ptr<NfsConnection> c(new NfsConnection(ctx, fd));
  c->thread_ = std::thread([p = c.get()] { p->Serve(); });
  pthread_setname_np(c->thread_.native_handle(), "ferry-nfs");
  return c;
}

NfsConnection::~NfsConnection() {
  stop_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    // Cancels whatever is still in flight; libnfs calls back for each, freeing its slot.
    nfs_destroy_context(ctx_);
    for (Slot* slot : outstanding_) delete slot;
    outstanding_.clear();
  }
  close(wake_fd_);
}

void NfsConnection::Wake() {
  const uint64_t one = 1;
  // Fails only when the counter is saturated, which wakes the thread as well.
  (void)!write(wake_fd_, &one, sizeof(one));
}

void NfsConnection::Serve() {
  while (!stop_.load() && !given_up_.load()) {
    pollfd fds[2];
    {
      std::lock_guard lock(mu_);
      fds[0] = {nfs_get_fd(ctx_), static_cast<short>(nfs_which_events(ctx_)), 0};
    }
    fds[1] = {wake_fd_, POLLIN, 0};
    // libnfs notices an RPC's timeout only when served, so serve at least every 100 ms.
    const int n = poll(fds, 2, 100);
    if (n < 0 && errno != EINTR) fds[0].revents = POLLERR;
    if (n < 0) fds[1].revents = 0;
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
    std::lock_guard lock(mu_);
    // A caller's send may have reconnected meanwhile: what poll saw was another socket's.
    const bool same_socket = nfs_get_fd(ctx_) == fds[0].fd;
    if (!ServeLocked(n < 0 || !same_socket ? 0 : fds[0].revents)) return;
  }
}

bool NfsConnection::ServeLocked(int revents) {
  if (nfs_service(ctx_, revents) >= 0) return true;
  const char* words = nfs_get_error(ctx_);
  FailOutstanding(std::string("the NFS connection failed") +
                  (words != nullptr && *words != '\0' ? ": " + std::string(words) : ""));
  return false;
}

void NfsConnection::SendLocked() {
  // Sending from the caller's thread saves a wakeup of the service thread and a trip round its
  // loop for every call. Only POLLOUT: reading stays with the thread that polls for it. And only
  // when the socket takes bytes now: libnfs takes POLLOUT on a socket still connecting (after a
  // reconnection) for the connection's completion.
  if ((nfs_which_events(ctx_) & POLLOUT) == 0) return;
  pollfd socket{nfs_get_fd(ctx_), POLLOUT, 0};
  if (poll(&socket, 1, 0) == 1 && socket.revents == POLLOUT && !ServeLocked(POLLOUT)) return;
  // What the socket did not take now goes when the service thread polls for it.
  if ((nfs_which_events(ctx_) & POLLOUT) != 0) Wake();
}

void NfsConnection::FailOutstanding(const std::string& why) {
  broken_ = why;
  given_up_.store(true);
  for (Slot* slot : outstanding_) {
    if (Waiter* w = std::exchange(slot->waiter, nullptr)) {
      w->failed = true;
      w->error = {.rc = -EIO, .message = why, .unanswered = true};
      w->Finish();
    }
  }
}

void NfsConnection::OnAnswer(int err, nfs_context* ctx, void* data, void* private_data) {
  auto* slot = static_cast<Slot*>(private_data);
  // Whoever drove libnfs into this callback holds mu_.
  slot->connection->outstanding_.erase(slot);
  Waiter* w = slot->waiter;
  delete slot;
  if (w == nullptr) return;  // Its caller was told the connection failed.
  if (err < 0) {
    // libnfs gives its words as the data of a failure; its context has them too. But libnfs 4.0
    // fails a READ or WRITE (which it may split) with -EFAULT whatever the server said, and the
    // server's reply as the data: the words are then only in the context, where they end with
    // the errno the server's status stands for ("NFS: Read failed with NFS3ERR_STALE(-116)").
    const bool split_call = w->reply == Reply::kRead || w->reply == Reply::kWritten;
    const char* words = split_call && err == -EFAULT ? nfs_get_error(ctx)
                        : data != nullptr            ? static_cast<const char*>(data)
                                                     : nfs_get_error(ctx);
    if (split_call && err == -EFAULT && words != nullptr) err = ErrnoAtEnd(words).value_or(err);
    w->failed = true;
    w->error = {.rc = err, .message = words != nullptr ? words : ""};
    // libnfs 4.0's words for a call that timed out, or was cancelled by a reconnection that
    // timed out: it has no other way of telling them from the server's refusals.
    w->error.unanswered =
        w->error.message == "Command timed out" || w->error.message == "Command was cancelled";
  } else {
    switch (w->reply) {
      case Reply::kFile:
        w->file = static_cast<nfsfh*>(data);
        break;
      case Reply::kDir:
        w->dir = static_cast<nfsdir*>(data);
        break;
      case Reply::kStat:
        w->stat = *static_cast<const nfs_stat_64*>(data);
        break;
      case Reply::kRead:
        w->count = std::min(static_cast<size_t>(err), w->read_into.size());
        if (w->count > 0) std::memcpy(w->read_into.data(), data, w->count);
        break;
      case Reply::kNone:
      case Reply::kWritten:
        w->count = static_cast<size_t>(err);
        break;
    }
  }
  w->Finish();
}

template <class QueueFn>
std::optional<NfsError> NfsConnection::QueueLocked(Waiter& waiter, QueueFn queue) {
  if (!broken_.empty()) return NfsError{.rc = -EIO, .message = broken_, .unanswered = true};
  auto* slot = new Slot{this, &waiter};
  outstanding_.insert(slot);
  const int rc = queue(ctx_, &OnAnswer, slot);
  if (rc >= 0) return std::nullopt;
  // Not queued: libnfs will not call back.
  if (outstanding_.erase(slot) != 0) delete slot;
  const char* words = nfs_get_error(ctx_);
  return NfsError{.rc = rc, .message = words != nullptr ? words : ""};
}

template <class QueueFn>
NfsResult<void> NfsConnection::Call(Waiter& waiter, QueueFn queue) {
  {
    std::lock_guard lock(mu_);
    if (auto refused = QueueLocked(waiter, queue)) return tl::unexpected(*refused);
    SendLocked();
  }
  waiter.Wait();
  if (waiter.failed) return tl::unexpected(waiter.error);
  return {};
}

NfsResult<nfs_stat_64> NfsConnection::Stat(const std::string& path) {
  Waiter w(Reply::kStat);
  auto r = Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_stat64_async(c, path.c_str(), cb, p);
  });
  if (!r) return tl::unexpected(r.error());
  return w.stat;
}

NfsResult<nfs_stat_64> NfsConnection::Fstat(nfsfh* fh) {
  Waiter w(Reply::kStat);
  auto r =
      Call(w, [&](nfs_context* c, nfs_cb cb, void* p) { return nfs_fstat64_async(c, fh, cb, p); });
  if (!r) return tl::unexpected(r.error());
  return w.stat;
}

NfsResult<nfsfh*> NfsConnection::Create(const std::string& path, int flags, int mode) {
  Waiter w(Reply::kFile);
  auto r = Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_create_async(c, path.c_str(), flags, mode, cb, p);
  });
  if (!r) return tl::unexpected(r.error());
  return w.file;
}

NfsResult<nfsfh*> NfsConnection::Open(const std::string& path, int flags) {
  Waiter w(Reply::kFile);
  auto r = Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_open_async(c, path.c_str(), flags, cb, p);
  });
  if (!r) return tl::unexpected(r.error());
  return w.file;
}

NfsResult<size_t> NfsConnection::Write(nfsfh* fh, uint64_t offset, ByteView data) {
  Waiter w(Reply::kWritten);
  auto r = Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_pwrite_async(c, fh, offset, data.size(), data.data(), cb, p);
  });
  if (!r) return tl::unexpected(r.error());
  return w.count;
}

NfsResult<size_t> NfsConnection::Read(nfsfh* fh, uint64_t offset, MutableByteView dst) {
  // One READ of at most the server's size per piece (libnfs 4.0 splits larger ones over v3 but
  // not over v4, where the server fails them), a few in flight at a time: all of a 16 MiB
  // object's at once made `check --read-data` ~20% slower than one at a time, and 1, 2 or 4
  // measured the same on loopback (bench/RESULTS.md, "Eleventh sitting"); more hides more
  // latency on a real network.
  constexpr size_t kDepth = 4;
  size_t most;
  {
    std::lock_guard lock(mu_);
    most = static_cast<size_t>(std::max<uint64_t>(nfs_get_readmax(ctx_), 4096));
  }
  const size_t count = (dst.size() + most - 1) / most;
  std::vector<std::unique_ptr<Waiter>> pieces;
  pieces.reserve(count);
  std::optional<NfsError> refused;
  bool more = true;  // Until a piece fails or comes back short.
  size_t done = 0;
  auto queue_up_to = [&](size_t end) {
    std::lock_guard lock(mu_);
    while (pieces.size() < std::min(end, count) && !refused) {
      const size_t at = pieces.size() * most;
      const MutableByteView into = dst.subspan(at, std::min(most, dst.size() - at));
      pieces.push_back(std::make_unique<Waiter>(Reply::kRead, into));
      refused = QueueLocked(*pieces.back(), [&](nfs_context* c, nfs_cb cb, void* p) {
        return nfs_pread_async(c, fh, offset + at, into.size(), cb, p);
      });
      if (refused) pieces.pop_back();
    }
    SendLocked();
  };
  queue_up_to(kDepth);
  // Every queued piece is waited for, whatever happens: each writes into dst until answered.
  std::optional<NfsError> failed;
  for (size_t i = 0; i < pieces.size(); ++i) {
    pieces[i]->Wait();
    if (pieces[i]->failed && !failed) failed = pieces[i]->error;
    if (more && !failed) {
      done += pieces[i]->count;
      // Up to the first short piece: the object's end, or a server that sent less this time.
      more = pieces[i]->count == pieces[i]->read_into.size();
    }
    if (more && !failed) queue_up_to(i + 1 + kDepth);
  }
  if (failed) return tl::unexpected(*failed);
  if (refused && more) return tl::unexpected(*refused);
  return done;
}

NfsResult<void> NfsConnection::Commit(nfsfh* fh) {
  Waiter w(Reply::kNone);
  return Call(w, [&](nfs_context* c, nfs_cb cb, void* p) { return nfs_fsync_async(c, fh, cb, p); });
}

NfsResult<void> NfsConnection::Close(nfsfh* fh) {
  Waiter w(Reply::kNone);
  return Call(w, [&](nfs_context* c, nfs_cb cb, void* p) { return nfs_close_async(c, fh, cb, p); });
}

NfsResult<void> NfsConnection::Mkdir(const std::string& path) {
  Waiter w(Reply::kNone);
  return Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_mkdir_async(c, path.c_str(), cb, p);
  });
}

NfsResult<void> NfsConnection::Unlink(const std::string& path) {
  Waiter w(Reply::kNone);
  return Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_unlink_async(c, path.c_str(), cb, p);
  });
}

NfsResult<void> NfsConnection::Rename(const std::string& from, const std::string& to) {
  Waiter w(Reply::kNone);
  return Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_rename_async(c, from.c_str(), to.c_str(), cb, p);
  });
}

NfsResult<void> NfsConnection::Link(const std::string& existing, const std::string& name) {
  Waiter w(Reply::kNone);
  return Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_link_async(c, existing.c_str(), name.c_str(), cb, p);
  });
}

NfsResult<std::vector<NfsDirEntry>> NfsConnection::ReadDir(const std::string& path) {
  Waiter w(Reply::kDir);
  auto r = Call(w, [&](nfs_context* c, nfs_cb cb, void* p) {
    return nfs_opendir_async(c, path.c_str(), cb, p);
  });
  if (!r) return tl::unexpected(r.error());
  // libnfs read the whole directory for the open; walking it sends nothing.
  std::vector<NfsDirEntry> entries;
  std::lock_guard lock(mu_);
  while (nfsdirent* e = nfs_readdir(ctx_, w.dir)) {
    const std::string_view name = e->name;
    if (name == "." || name == "..") continue;
    entries.push_back({.name = std::string(name),
                       .is_dir = S_ISDIR(e->mode) || e->type == 2 /* NF3DIR */,
                       .size = e->size,
                       .mtime_seconds = static_cast<int64_t>(e->mtime.tv_sec)});
  }
  nfs_closedir(ctx_, w.dir);
  return entries;
}

}  // namespace ferry::nfs
