// ReadHandles: NFSv3 file handles of objects read lately, kept open so that reading one again
// costs no path resolution.
//
// Opening an object by name costs a LOOKUP per component of its path and an ACCESS; a restore
// reads each pack many times (one window at a time), so without this 61% of its NFS calls went
// to finding the same files again (bench/RESULTS.md, "Fifteenth sitting"). An NFSv3 handle
// carries no state on the server, so holding one costs only memory here.
//
// A held handle reads the file the name had when it was opened. Objects are immutable (see
// transport.h), and the transport forgets a name's handle when it writes or removes that name
// itself. An object removed by another client makes its handle stale (the caller then opens the
// name afresh and learns it is gone); a server that still has the file open may go on serving
// its bytes meanwhile, as a local file stays readable while open.
//
// Not for NFSv4, where an open is state on the server (and libnfs 4.0 allows one at a time).
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "transports/nfs/nfs_connection.h"

namespace ferry::nfs {

// An open file of a connection, closed when its last user lets it go.
class ReadHandle {
 public:
  ReadHandle(NfsConnection& connection, nfsfh* fh) : connection_(connection), fh_(fh) {}
  ~ReadHandle() { (void)connection_.Close(fh_); }
  ReadHandle(const ReadHandle&) = delete;
  ReadHandle& operator=(const ReadHandle&) = delete;

  NfsConnection& connection() const { return connection_; }
  nfsfh* fh() const { return fh_; }

 private:
  NfsConnection& connection_;
  nfsfh* const fh_;
};

class ReadHandles {
 public:
  // Holds at most `capacity` handles, letting the least recently used go first.
  explicit ReadHandles(size_t capacity) : capacity_(capacity) {}

  // The handle held for `path`, or null. Handles of connections libnfs gave up are dropped.
  std::shared_ptr<ReadHandle> Find(const std::string& path);
  // Holds `handle` for `path` (in place of any other) and returns it.
  std::shared_ptr<ReadHandle> Keep(const std::string& path, std::shared_ptr<ReadHandle> handle);
  // Stops holding the handle of `path`: the name was written or removed, or the handle is stale.
  void Forget(const std::string& path);

 private:
  using Recency = std::list<std::string>;  // Most recently used first.
  struct Held {
    std::shared_ptr<ReadHandle> handle;
    Recency::iterator recency;
  };

  const size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, Held> held_;  // GUARDED_BY(mu_)
  Recency recency_;                             // GUARDED_BY(mu_)
};

}  // namespace ferry::nfs
