#include "engine/repo_lock.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <map>

#include <fmt/format.h>
#include <unistd.h>

#include "common/env.h"
#include "common/origin.h"

namespace ferry {

namespace {

std::string Age(std::chrono::system_clock::duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 120) return fmt::format("{} s", s);
  if (s < 7200) return fmt::format("{} min", s / 60);
  return fmt::format("{} h", s / 3600);
}

// Why a lock is stale, or empty if it is not.
std::string StaleReason(const repo::LockRecord& lock, const LockTiming& timing,
                        const std::string& own_host) {
  const auto written = ParseRfc3339(lock.time);
  if (!written) return "its time '" + lock.time + "' cannot be read";
  const auto age = std::chrono::system_clock::now() - *written;
  if (age > timing.stale) return "not refreshed for " + Age(age);
  if (!own_host.empty() && lock.hostname == own_host && lock.pid > 0 &&
      ::kill(static_cast<pid_t>(lock.pid), 0) != 0 && errno == ESRCH) {
    return fmt::format("process {} is gone from this host", lock.pid);
  }
  return {};
}

}  // namespace

LockTiming LockTiming::FromEnvironment() {
  LockTiming t;
  t.refresh = SecondsFromEnv("FERRY_LOCK_REFRESH_SECONDS", t.refresh);
  t.stale = SecondsFromEnv("FERRY_LOCK_STALE_SECONDS", t.stale);
  return t;
}

std::string LockView::Describe() const {
  return fmt::format("{} lock of host {} (pid {}, written {})", repo::LockKindName(record.kind),
                     record.hostname, record.pid, record.time);
}

Result<std::vector<LockView>> ListLocks(Repository& repository, const LockTiming& timing,
                                        std::vector<std::string>* problems) {
  Transport& t = repository.transport();
  FERRY_ASSIGN_OR_RETURN(auto sealer, repository.NewSealer());
  const std::string host = LocalHostname();
  // A session whose objects all vanish between the listing and the reads was rewritten
  // meanwhile: list again (its next generation sorts later, so a fresh listing has it).
  for (int attempt = 0;; ++attempt) {
    FERRY_ASSIGN_OR_RETURN(auto names, t.List("locks"));
    std::map<repo::ObjectId, std::vector<std::pair<uint32_t, std::string>>> sessions;
    for (const std::string& name : names) {
      if (auto parts = repo::ParseLockName(name)) {
        sessions[parts->session].emplace_back(parts->generation, name);
      } else if (problems != nullptr) {
        problems->push_back(name + ": not a lock name; ignored");
      }
    }
    std::vector<LockView> out;
    bool vanished = false;
    for (auto& [session, generations] : sessions) {
      std::sort(generations.rbegin(), generations.rend());
      LockView view;
      for (const auto& g : generations) view.names.push_back(g.second);
      bool found = false, undecodable = false;
      for (const auto& [generation, name] : generations) {
        auto sealed = t.Get(name);
        if (!sealed && sealed.error().IsNotFound()) continue;  // Rewritten meanwhile.
        if (!sealed) return Err(sealed.error());
        auto lock = repo::DecodeLock(*sealer, *sealed, name);
        if (lock) {
          view.record = std::move(*lock);
          found = true;
        } else {
          undecodable = true;
          if (problems != nullptr) problems->push_back(lock.error().message() + "; ignored");
        }
        break;
      }
      if (!found) {
        vanished = vanished || !undecodable;
        continue;
      }
      view.stale_reason = StaleReason(view.record, timing, host);
      view.stale = !view.stale_reason.empty();
      out.push_back(std::move(view));
    }
    if (!vanished || attempt == 3) return out;
  }
}

Result<std::vector<repo::PruneRecord>> ListPruneRecords(Repository& repository) {
  Transport& t = repository.transport();
  FERRY_ASSIGN_OR_RETURN(auto sealer, repository.NewSealer());
  FERRY_ASSIGN_OR_RETURN(auto names, t.List("prune"));
  std::vector<repo::PruneRecord> out;
  for (const std::string& name : names) {
    auto id = repo::ObjectIdOfName(name);
    if (!id) return Err(Status::Corruption(name + ": not a prune record name"));
    auto sealed = t.Get(name);
    // Finished meanwhile: its packs are gone from the index already.
    if (!sealed && sealed.error().IsNotFound()) continue;
    if (!sealed) return Err(sealed.error());
    FERRY_ASSIGN_OR_RETURN(auto record, repo::DecodePruneRecord(*sealer, *id, *sealed, name));
    out.push_back(std::move(record));
  }
  return out;
}

RepoLock::RepoLock(Repository& repository, repo::LockKind kind, const LockTiming& timing)
    : repository_(repository), kind_(kind), timing_(timing) {}

Result<std::unique_ptr<RepoLock>> RepoLock::Acquire(Repository& repository, repo::LockKind kind,
                                                    const LockTiming& timing) {
  std::unique_ptr<RepoLock> lock(new RepoLock(repository, kind, timing));
  FERRY_ASSIGN_OR_RETURN(lock->session_, repo::NewObjectId());
  Status announced = lock->Rewrite();  // Generation 1, nothing seen yet.
  if (!announced.ok() && kind == repo::LockKind::kRead &&
      (announced.IsNotSupported() || announced.IsNoSpace() ||
       announced.code() == Status::Code::kPermissionDenied)) {
    // A repository this job may only read (an NFSv4 export, a read-only mount) or that is
    // full (a restore or check is how one decides what to forget): read without announcing,
    // still preferring packs no prune is deleting.
    lock->messages_.push_back("reading without a lock (" + announced.message() +
                              "): a prune that runs meanwhile may delete what this reads");
    FERRY_ASSIGN_OR_RETURN(lock->honoured_, ListPruneRecords(repository));
    for (const auto& r : lock->honoured_) lock->candidates_.insert(r.packs.begin(), r.packs.end());
    return lock;
  }
  if (announced.IsNoSpace()) {
    return Err(announced.WithNote(
        "the repository's storage is full: make room there first (a prune needs a few MiB for "
        "its lock, its record and the index objects it rewrites)"));
  }
  FERRY_RETURN_IF_ERROR(announced);
  {
    std::lock_guard g(lock->mu_);
    lock->held_ = true;
  }
  // From here on the destructor removes the lock if anything fails.
  if (kind == repo::LockKind::kExclusive) {
    std::vector<std::string> problems;
    FERRY_ASSIGN_OR_RETURN(auto locks, ListLocks(repository, timing, &problems));
    for (const LockView& other : locks) {
      if (other.record.session == lock->session_) continue;
      if (other.stale) {
        for (const std::string& name : other.names) {
          FERRY_RETURN_IF_ERROR(repository.transport().Remove(name));
        }
        std::lock_guard g(lock->mu_);
        lock->messages_.push_back(
            fmt::format("removed a stale {} ({})", other.Describe(), other.stale_reason));
        continue;
      }
      if (other.record.kind == repo::LockKind::kExclusive) {
        return Err(Status::Unavailable(fmt::format(
            "another prune, repair or key removal is running: {}; try again when it is done (a "
            "lock left by a "
            "dead process goes stale after {} s without refresh)",
            other.Describe(), timing.stale.count())));
      }
    }
  }
  FERRY_ASSIGN_OR_RETURN(lock->honoured_, ListPruneRecords(repository));
  for (const auto& r : lock->honoured_) lock->candidates_.insert(r.packs.begin(), r.packs.end());
  // Generation 1 already says that nothing was seen: with no record to honour (nearly always),
  // rewriting it would cost two round trips and tell nobody anything new.
  if (!lock->honoured_.empty()) FERRY_RETURN_IF_ERROR(lock->Rewrite());
  lock->refresher_ = std::thread([l = lock.get()] { l->RefreshLoop(); });
  return lock;
}

RepoLock::~RepoLock() { (void)Release(); }

Status RepoLock::Rewrite() {
  std::lock_guard w(write_mu_);
  uint32_t previous;
  {
    std::lock_guard g(mu_);
    previous = generation_;
  }
  repo::LockRecord record;
  record.session = session_;
  record.generation = previous + 1;
  record.kind = kind_;
  record.hostname = LocalHostname();
  record.pid = ::getpid();
  record.time = NowRfc3339();
  for (const auto& r : honoured_) record.seen.push_back(r.id);
  FERRY_ASSIGN_OR_RETURN(auto sealer, repository_.NewSealer());
  FERRY_ASSIGN_OR_RETURN(std::string sealed, repo::EncodeLock(*sealer, record));
  Transport& t = repository_.transport();
  FERRY_RETURN_IF_ERROR(t.Put(repo::LockName(session_, record.generation), AsBytes(sealed)));
  {
    std::lock_guard g(mu_);
    generation_ = record.generation;
    last_written_ = std::chrono::steady_clock::now();
  }
  // The new generation is visible before the old one goes, so a lister always sees one.
  if (previous != 0) FERRY_RETURN_IF_ERROR(t.Remove(repo::LockName(session_, previous)));
  return Status();
}

void RepoLock::RefreshLoop() {
  std::unique_lock g(mu_);
  auto wait = timing_.refresh;
  while (!cv_.wait_for(g, wait, [&] { return stopping_; })) {
    g.unlock();
    Status s = Rewrite();
    g.lock();
    if (s.ok()) {
      wait = timing_.refresh;
    } else {
      messages_.push_back("could not refresh the repository lock (will retry): " + s.message());
      wait = std::min<std::chrono::seconds>(timing_.refresh, std::chrono::seconds(10));
    }
  }
}

Status RepoLock::Release() {
  uint32_t generation;
  {
    std::lock_guard g(mu_);
    if (!held_) return Status();
    held_ = false;
    stopping_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  std::lock_guard w(write_mu_);
  {
    std::lock_guard g(mu_);
    generation = generation_;
  }
  return repository_.transport().Remove(repo::LockName(session_, generation));
}

bool RepoLock::MayBeStale() const {
  std::lock_guard g(mu_);
  return std::chrono::steady_clock::now() - last_written_ > timing_.stale / 2;
}

Status RepoLock::ValidateBeforeNaming(
    const std::function<Result<std::set<repo::ObjectId>>()>& packs_used_fn) {
  if (!MayBeStale()) return Status();
  // Others may have taken this job for dead. Announce again first: a prune that lists locks
  // from now on waits for us; one that listed them earlier is caught below.
  FERRY_RETURN_IF_ERROR(Rewrite());
  FERRY_ASSIGN_OR_RETURN(const std::set<repo::ObjectId> packs_used, packs_used_fn());
  const std::string why =
      "this backup's lock went unrefreshed long enough for a prune to treat it as dead";
  FERRY_ASSIGN_OR_RETURN(auto records, ListPruneRecords(repository_));
  for (const auto& r : records) {
    const bool known = std::any_of(honoured_.begin(), honoured_.end(),
                                   [&](const repo::PruneRecord& h) { return h.id == r.id; });
    if (known) continue;
    for (const auto& pack : r.packs) {
      if (packs_used.count(pack) != 0) {
        return Status::Unavailable(
            fmt::format("{}, and prune record {} is deleting pack {} that it uses; nothing was "
                        "published: run the backup again",
                        why, r.id.ToHex(), pack.ToHex()));
      }
    }
  }
  FERRY_ASSIGN_OR_RETURN(auto names, repository_.transport().List("data"));
  std::set<repo::ObjectId> present;
  for (const std::string& name : names) {
    if (auto id = repo::ObjectIdOfName(name)) present.insert(*id);
  }
  for (const auto& pack : packs_used) {
    if (present.count(pack) == 0) {
      return Status::Unavailable(fmt::format(
          "{}, and pack {} that it uses was pruned; nothing was published: run the backup again",
          why, pack.ToHex()));
    }
  }
  return Status();
}

std::vector<std::string> RepoLock::TakeMessages() {
  std::lock_guard g(mu_);
  return std::exchange(messages_, {});
}

}  // namespace ferry
