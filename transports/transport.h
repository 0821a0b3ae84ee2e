// Transport: one storage namespace with object-store semantics (a local directory now; an NFS
// export or an S3 bucket and prefix later). engine/ and formats/ reach storage only through it;
// tools/ picks which one from a URI.
//
// Objects are immutable: Put publishes a whole object atomically (no reader ever sees part of
// it) and nothing is modified in place. Names are relative paths with '/' separators
// ("data/ab/ab12…").
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/parallel_for.h"
#include "common/result.h"

namespace ferry {

// An object being written: appended to in order, invisible until Commit() publishes it whole.
// Used by one thread at a time. Destroying it without Commit() discards it.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  // Appends `data`. Blocks. Errors: kNoSpace, kIoError naming the object.
  virtual Status Append(ByteView data) = 0;
  // Makes the object durable and visible under its name, all at once. Blocks.
  virtual Status Commit() = 0;
  virtual uint64_t size() const = 0;
};

// What a backend can do, for callers that adapt to it.
struct TransportCapabilities {
  // Objects are published by renaming a finished temporary file (local, NFS): a crash can leave
  // a stray temporary behind, never a partial object.
  bool atomic_rename = false;
  // New objects are made immutable for a retention period (S3 Object Lock): true once
  // SetObjectLockPolicy() succeeded.
  bool object_lock = false;
  // How many requests are worth keeping in flight at once to fill the link: callers that can
  // work ahead (pack uploads, restore reads) keep about this many going.
  unsigned parallelism = 1;
  // The smallest read worth a request of its own, 0 where requests are cheap (local files,
  // NFS). Over HTTP every request costs the server a lookup, headers and a signature check
  // besides the bytes: callers that can read ahead in larger pieces (restore) do.
  size_t efficient_read = 0;
};

using SystemTime = std::chrono::system_clock::time_point;

// An object as a listing names it. Listings are sorted by name (names are unique).
struct ListedObject {
  std::string name;
  uint64_t size = 0;

  auto operator<=>(const ListedObject&) const = default;
};

// The names of `listed`, for backends whose List() is their ListWithSizes() without the sizes.
inline std::vector<std::string> NamesOf(std::vector<ListedObject> listed) {
  std::vector<std::string> names;
  names.reserve(listed.size());
  for (ListedObject& o : listed) names.push_back(std::move(o.name));
  return names;
}

// What a write that never published left behind: a backend that publishes by renaming a
// finished temporary (atomic_rename) leaves the temporary when its writer is killed before the
// rename; S3 keeps the parts of a multipart upload that was never completed nor aborted (and
// bills them). List never shows either; RemoveLeftover() deletes it.
struct LeftoverTemporary {
  std::string name;  // Relative, like an object's ("data/ab/.tmp-…", or the upload's object).
  uint64_t size = 0;
  std::chrono::seconds age{0};  // Since it was last written to (S3: since the upload began).
  std::string upload_id;        // S3: which of the object's uploads.
};

// Object Lock: how long new objects stay immutable, and in which mode. Under kCompliance nobody
// (not even the account's root) can delete or shorten before the date; under kGovernance a user
// with the bypass permission can.
struct ObjectLockPolicy {
  enum class Mode { kGovernance, kCompliance };
  Mode mode = Mode::kCompliance;
  std::chrono::seconds period{0};
  // Objects whose names start with one of these are written without retention (objects the
  // repository must be able to replace or delete at any time: locks, prune records, indexes).
  std::vector<std::string> exempt_prefixes;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual TransportCapabilities capabilities() const = 0;

  // Where this transport stores objects, for messages ("/srv/backup", "s3://bucket/prefix").
  virtual std::string Describe() const = 0;

  // Publishes `data` as `name`, durably and atomically. With `exclusive`, fails with
  // kAlreadyExists if `name` exists: for names that are not new by construction (a repository's
  // config). Objects named by a fresh random id need no such check, and must not ask for one: it
  // costs a round trip on S3, and a request retried after its response was lost would find its
  // own first attempt there and fail. Blocks. Errors: kNoSpace, kPermissionDenied, kIoError,
  // each naming the object.
  virtual Status Put(std::string_view name, ByteView data, bool exclusive = false) = 0;

  // Starts writing `name` piece by piece (for objects too large to assemble in memory, such as
  // packs). `size_hint`, when not 0, is about how large it will be (to size buffers).
  // Errors: kPermissionDenied, kIoError naming the object.
  virtual Result<std::unique_ptr<ObjectWriter>> Create(std::string_view name,
                                                       uint64_t size_hint = 0) = 0;

  // The whole object. Errors: kNotFound naming it; kIoError.
  virtual Result<std::string> Get(std::string_view name) = 0;

  // Reads dst.size() bytes at `offset`; returns bytes read (short only at the object's end).
  // Errors: kNotFound, kIoError.
  virtual Result<size_t> ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) = 0;

  // Size in bytes. Errors: kNotFound.
  virtual Result<uint64_t> Size(std::string_view name) = 0;

  // Names of the objects whose name starts with `prefix` + "/" (recursively), sorted.
  // A missing prefix lists nothing.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) = 0;

  // List() with each object's size, for callers that would otherwise ask Size() of every object
  // listed (check, prune): every backend's listing carries sizes at no extra round trip (S3's
  // ListObjectsV2 pages, NFS's READDIRPLUS; a local stat is cheap).
  virtual Result<std::vector<ListedObject>> ListWithSizes(std::string_view prefix) = 0;

  // Every temporary a write left behind, anywhere in this namespace (see LeftoverTemporary).
  // Errors: kNotSupported where the server cannot list them (s3rver lists no uploads).
  virtual Result<std::vector<LeftoverTemporary>> ListLeftovers() {
    return std::vector<LeftoverTemporary>{};
  }
  // Deletes what ListLeftovers() found. Deleting what is gone since succeeds.
  virtual Status RemoveLeftover(const LeftoverTemporary& leftover) { return Remove(leftover.name); }

  // Deletes `name`. Deleting what does not exist succeeds. Under a retention policy, an object
  // still retained is not deleted: kPermissionDenied naming it and the date.
  virtual Status Remove(std::string_view name) = 0;

  // Deletes every one of `names` with Remove()'s semantics (what does not exist is no error), in
  // as few round trips as the backend allows: S3 sends DeleteObjects requests of up to 1000
  // names; elsewhere each is removed on its own, capabilities().parallelism at a time. Stops at
  // the first error and returns it, naming the object; some of the names may be gone by then.
  virtual Status RemoveMany(const std::vector<std::string>& names) {
    return ParallelFor(names.size(), capabilities().parallelism,
                       [&](size_t i) { return Remove(names[i]); });
  }

  // Object Lock. From now on every object written (but exempt ones) is retained for
  // `policy.period` from when it is written. Checks first that the storage can: kNotSupported
  // naming the transport and why not (the default: only S3 buckets created with Object Lock).
  virtual Status SetObjectLockPolicy(const ObjectLockPolicy& policy) {
    (void)policy;
    return Status::NotSupported(Describe() +
                                " cannot lock objects: Object Lock needs an S3 bucket created "
                                "with it");
  }
  // Until when `name` is retained: a time in the past (the epoch) when it is not, or when this
  // transport has no retention. Errors: kNotFound.
  virtual Result<SystemTime> RetainedUntil(std::string_view name) {
    (void)name;
    return SystemTime{};
  }
  // Retains `name` until `until` (later than it is now: retention never shortens), in the
  // policy's mode. Errors: kNotSupported without a policy; kNotFound.
  virtual Status ExtendRetention(std::string_view name, SystemTime until) {
    (void)until;
    return Status::NotSupported(Describe() + " cannot retain " + std::string(name));
  }
};

}  // namespace ferry
