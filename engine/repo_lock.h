// RepoLock: a job's announcement in the repository (docs/FORMAT.md §13, §14.2). Every job that
// reads or writes chunks holds one while it runs; it never makes the job wait. It tells prune
// which jobs may still use what it wants to delete, and it carries the prune records the job
// honours (a backup leaves their candidate packs out of its index).
//
// A background thread rewrites the lock every `refresh`; a lock not rewritten for `stale` (or
// whose process is gone from this host) is stale and ignored by everyone else.
//
// Thread-safety: the public methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"

#include "engine/repository.h"
#include "formats/repo/lock_file.h"
#include "formats/repo/prune_record.h"

namespace ferry {

struct LockTiming {
  std::chrono::seconds refresh{300};
  std::chrono::seconds stale{1800};
  // The defaults, or FERRY_LOCK_REFRESH_SECONDS / FERRY_LOCK_STALE_SECONDS (for tests that need
  // a lock to go stale in seconds).
  static LockTiming FromEnvironment();
};

// One job's lock as others see it: the newest generation of its session.
struct LockView {
  repo::LockRecord record;
  std::vector<std::string> names;  // Every object of the session (old generations too).
  bool stale = false;
  std::string stale_reason;      // "not refreshed for 45 min", "process 123 is gone".
  std::string Describe() const;  // "backup on host h (pid 1, since …)"
};

// Every lock in the repository, newest generation per session. Undecodable lock objects are
// reported in `*problems` and otherwise ignored (they cannot be honoured or trusted).
Result<std::vector<LockView>> ListLocks(Repository& repository, const LockTiming& timing,
                                        std::vector<std::string>* problems);

class RepoLock {
 public:
  // Announces a job of `kind`: writes the lock, reads every prune record, rewrites the lock with
  // them in `seen` (if there are any), and starts refreshing. A read lock on a repository this job
  // cannot write (kNotSupported, kPermissionDenied) is not written; messages() says so. An
  // exclusive lock fails with kUnavailable, naming the holder, while another non-stale exclusive
  // lock exists (stale ones are removed, and said so in messages()). Errors: the transport's
  // (kIoError, kPermissionDenied…), kCorruption for a damaged prune record.
  static Result<std::unique_ptr<RepoLock>> Acquire(
      Repository& repository, repo::LockKind kind,
      const LockTiming& timing = LockTiming::FromEnvironment());
  ~RepoLock();  // Releases (best effort: a lock left behind goes stale).
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

  // Stops refreshing and deletes the lock. Errors: the transport's.
  Status Release();

  const repo::ObjectId& session() const { return session_; }
  // The prune records this job honours, and the union of their candidate packs.
  const std::vector<repo::PruneRecord>& honoured() const { return honoured_; }
  const std::set<repo::ObjectId>& candidate_packs() const { return candidates_; }

  // Before a backup writes an object that names packs — an index object, its snapshot (§14.2
  // step 5): if the lock may have gone stale (not refreshed for half of `stale`), rewrites it,
  // asks `packs_used` for the packs the object names or takes chunks from, and fails with
  // kUnavailable if a prune record it did not honour names one of them, or if one is missing.
  // Does nothing otherwise. Thread-safe.
  Status ValidateBeforeNaming(const std::function<Result<std::set<repo::ObjectId>>()>& packs_used);

  // Things the user should hear (stale locks removed, refresh failures).
  std::vector<std::string> TakeMessages();

 private:
  RepoLock(Repository& repository, repo::LockKind kind, const LockTiming& timing);
  // Writes generation `generation_ + 1` and removes the previous one.
  Status Rewrite();
  void RefreshLoop();
  bool MayBeStale() const;

  Repository& repository_;
  const repo::LockKind kind_;
  const LockTiming timing_;
  repo::ObjectId session_;
  std::vector<repo::PruneRecord> honoured_;
  std::set<repo::ObjectId> candidates_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                               // GUARDED_BY(mu_)
  bool held_ = false;                                   // GUARDED_BY(mu_)
  uint32_t generation_ = 0;                             // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_written_;  // GUARDED_BY(mu_)
  std::vector<std::string> messages_;                   // GUARDED_BY(mu_)
  std::mutex write_mu_;  // Serialises Rewrite() between the refresher and callers.
  std::thread refresher_;
};

// Reads every prune record. Errors: kCorruption naming a damaged one; the transport's.
Result<std::vector<repo::PruneRecord>> ListPruneRecords(Repository& repository);

}  // namespace ferry
