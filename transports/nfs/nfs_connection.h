// NfsConnection: one libnfs context (one TCP connection and mount of the export), driven through
// libnfs' asynchronous API by a thread of its own and shared by any number of callers.
//
// A caller's call is queued on the context under a lock and the service thread woken; that
// thread polls the socket, lets libnfs send and receive, and hands each answer to the caller
// waiting for it. So many callers' calls are in flight on one connection at once, and a call
// that libnfs splits into many RPCs (a large read or write becomes READs or WRITEs of the
// server's largest size) has all of them in flight.
//
// If libnfs gives the connection up (it reconnects by itself after a reset, and resends what
// was in flight), every call waiting on it fails with its words, and so does every later call.
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

// libnfs.h uses struct timeval without including its header.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nfsc/libnfs.h>
#include <sys/time.h>
#include <tl/expected.hpp>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::nfs {

// A failed call: libnfs' -errno, and its words naming the RPC and the server's answer.
struct NfsError {
  int rc = -EIO;
  std::string message;
  // No answer came: the call timed out, or libnfs gave the connection up. Not the server's word.
  bool unanswered = false;
};
template <class T>
using NfsResult = tl::expected<T, NfsError>;

struct NfsDirEntry {
  std::string name;
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime_seconds = 0;
};

class NfsConnection {
 public:
  // Takes `ctx`, already mounted, and starts serving it. Errors: kIoError if the thread's wakeup
  // channel cannot be made.
  static Result<std::unique_ptr<NfsConnection>> Start(nfs_context* ctx);
  ~NfsConnection();
  NfsConnection(const NfsConnection&) = delete;
  NfsConnection& operator=(const NfsConnection&) = delete;

  NfsResult<nfs_stat_64> Stat(const std::string& path);
  NfsResult<nfs_stat_64> Fstat(nfsfh* fh);  // GETATTR of an open file: no path to resolve.
  NfsResult<nfsfh*> Create(const std::string& path, int flags, int mode);
  NfsResult<nfsfh*> Open(const std::string& path, int flags);
  // Bytes written: libnfs may write fewer than asked.
  NfsResult<size_t> Write(nfsfh* fh, uint64_t offset, ByteView data);
  // Bytes read: fewer than asked at the object's end, or when the server sent less (read on).
  NfsResult<size_t> Read(nfsfh* fh, uint64_t offset, MutableByteView dst);
  NfsResult<void> Commit(nfsfh* fh);  // fsync: COMMIT to the server's stable storage.
  NfsResult<void> Close(nfsfh* fh);
  NfsResult<void> Mkdir(const std::string& path);
  NfsResult<void> Unlink(const std::string& path);
  NfsResult<void> Rename(const std::string& from, const std::string& to);
  NfsResult<void> Link(const std::string& existing, const std::string& name);
  // Every entry of the directory but "." and "..".
  NfsResult<std::vector<NfsDirEntry>> ReadDir(const std::string& path);

  // Operations using this connection now, kept by callers that spread their work (see Lease in
  // nfs_transport.cc).
  std::atomic<unsigned> users{0};
  // libnfs gave the connection up: every call fails at once.
  bool given_up() const { return given_up_.load(); }

 private:
  struct Waiter;
  struct Slot;
  enum class Reply { kNone, kFile, kDir, kStat, kRead, kWritten };

  NfsConnection(nfs_context* ctx, int wake_fd);
  // Queues one asynchronous call, `queue(ctx, callback, private_data)`, and waits for its answer.
  template <class QueueFn>
  NfsResult<void> Call(Waiter& waiter, QueueFn queue);
  // Queues a call without waiting: nullopt, or why libnfs refused it.
  template <class QueueFn>
  std::optional<NfsError> QueueLocked(Waiter& waiter, QueueFn queue);  // REQUIRES(mu_)
  // Sends what is queued as far as the socket takes it now.
  void SendLocked();  // REQUIRES(mu_)
  static void OnAnswer(int err, nfs_context* ctx, void* data, void* private_data);
  void Serve();
  // Lets libnfs handle `revents`; false once it gave the connection up.
  bool ServeLocked(int revents);  // REQUIRES(mu_)
  void Wake();
  // After libnfs gave up the connection: fails every waiting call with `why`.
  void FailOutstanding(const std::string& why);  // REQUIRES(mu_)

  nfs_context* const ctx_;
  const int wake_fd_;  // An eventfd: a call was queued, or the thread is to stop.
  std::mutex mu_;      // Every use of ctx_, and what follows.
  std::unordered_set<Slot*> outstanding_;
  std::string broken_;  // Why libnfs gave the connection up; empty while it works.
  std::atomic<bool> given_up_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ferry::nfs
