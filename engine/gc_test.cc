// Garbage collection through the library (docs/FORMAT.md §13-14): retention decisions, the
// compact mark filter, locks, and prune's two phases with jobs that started before it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/origin.h"

#include "engine/check.h"
#include "engine/chunk_filter.h"
#include "engine/hooked_transport.h"
#include "engine/prune.h"
#include "engine/repair_index.h"
#include "engine/repo_fixture.h"
#include "engine/repo_lock.h"
#include "engine/retention.h"
#include "formats/repo/prune_record.h"
#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

// --- ChunkFilter ---------------------------------------------------------------------------

codec::ChunkId IdFromSeed(uint64_t seed) {
  const std::string bytes = testing::RandomBytes(32, seed);
  codec::ChunkId id;
  std::memcpy(id.bytes.data(), bytes.data(), 32);
  return id;
}

TEST(ChunkFilterTest, NeverForgetsAnIdAndRarelyClaimsOne) {
  constexpr int kIds = 50'000;
  ChunkFilter f(kIds, 10, /*min_bytes=*/0);
  for (int i = 0; i < kIds; ++i) f.Add(IdFromSeed(static_cast<uint64_t>(i)));
  for (int i = 0; i < kIds; ++i) ASSERT_TRUE(f.MayContain(IdFromSeed(static_cast<uint64_t>(i))));
  int false_positives = 0;
  for (int i = kIds; i < 2 * kIds; ++i) {
    false_positives += f.MayContain(IdFromSeed(static_cast<uint64_t>(i))) ? 1 : 0;
  }
  EXPECT_LT(false_positives, kIds * 2 / 100);  // About 1% expected at 10 bits per id.
  EXPECT_LE(f.memory_bytes(), static_cast<size_t>(kIds) * 10 / 8 + 8);
}

// --- Retention -----------------------------------------------------------------------------

repo::Snapshot At(const std::string& time, const std::string& host = "h",
                  std::vector<std::string> tags = {}) {
  repo::Snapshot s;
  s.id = repo::NewObjectId().value();
  s.time = time;
  s.hostname = host;
  s.tags = std::move(tags);
  s.volumes.push_back({});
  s.volumes.back().name = "disk0";
  return s;
}

std::vector<std::string> KeptTimes(const RetentionGroup& g) {
  std::vector<std::string> out;
  for (const auto& d : g.decisions) {
    if (d.keep) out.push_back(d.snapshot.time);
  }
  return out;
}

TEST(RetentionTest, CalendarBucketsKeepTheNewestOfEachRecentPeriod) {
  std::vector<repo::Snapshot> snaps;
  // Two a day, 1-10 November 2026 (a Sunday is the 1st; ISO weeks 44 and 45 and 46).
  for (int day = 1; day <= 10; ++day) {
    snaps.push_back(At(fmt::format("2026-11-{:02}T03:00:00.000000Z", day)));
    snaps.push_back(At(fmt::format("2026-11-{:02}T15:00:00.000000Z", day)));
  }
  RetentionPolicy daily;
  daily.daily = 3;
  auto g = ApplyRetention(snaps, daily, GroupBy{});
  ASSERT_TRUE(g.has_value()) << g.error().ToString();
  ASSERT_EQ(g->size(), 1u);
  EXPECT_EQ(KeptTimes(g->at(0)),
            (std::vector<std::string>{"2026-11-10T15:00:00.000000Z", "2026-11-09T15:00:00.000000Z",
                                      "2026-11-08T15:00:00.000000Z"}));

  RetentionPolicy weekly;
  weekly.weekly = 2;
  weekly.last = 1;
  g = ApplyRetention(snaps, weekly, GroupBy{});
  ASSERT_TRUE(g.has_value());
  // The 10th (last, week 46) and the newest of week 45 (Sunday the 8th); week 44 is not kept.
  EXPECT_EQ(KeptTimes(g->at(0)), (std::vector<std::string>{"2026-11-10T15:00:00.000000Z",
                                                           "2026-11-08T15:00:00.000000Z"}));
  EXPECT_EQ(g->at(0).decisions.at(0).reasons,
            (std::vector<std::string>{"last", "weekly 2026-W46"}));
}

TEST(RetentionTest, TagsAndGroupsAndRefusals) {
  std::vector<repo::Snapshot> snaps = {
      At("2026-11-01T00:00:00.000000Z", "a", {"monthly"}), At("2026-11-02T00:00:00.000000Z", "a"),
      At("2026-11-03T00:00:00.000000Z", "a"), At("2026-11-01T00:00:00.000000Z", "b"),
      At("2026-11-02T00:00:00.000000Z", "b")};
  RetentionPolicy p;
  p.last = 1;
  p.tags = {"monthly"};
  auto g = ApplyRetention(snaps, p, GroupBy{});
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->size(), 2u);  // host=a and host=b.
  EXPECT_EQ(g->at(0).key, "host=a volumes=disk0");
  EXPECT_EQ(KeptTimes(g->at(0)), (std::vector<std::string>{"2026-11-03T00:00:00.000000Z",
                                                           "2026-11-01T00:00:00.000000Z"}));
  EXPECT_EQ(g->at(0).decisions.at(2).reasons, std::vector<std::string>{"tag monthly"});
  EXPECT_EQ(KeptTimes(g->at(1)), std::vector<std::string>{"2026-11-02T00:00:00.000000Z"});

  auto one_group = ApplyRetention(snaps, p, ParseGroupBy("").value());
  ASSERT_TRUE(one_group.has_value());
  EXPECT_EQ(one_group->size(), 1u);

  auto none = ApplyRetention(snaps, RetentionPolicy{}, GroupBy{});
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("no --keep-* option"), std::string::npos);
  auto bad = ParseGroupBy("host,planet");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("'planet'"), std::string::npos);
}

TEST(Rfc3339Test, ParsesWhatSnapshotsRecord) {
  const std::string now = NowRfc3339();
  auto parsed = ParseRfc3339(now);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_LT(std::chrono::abs(std::chrono::system_clock::now() - *parsed), std::chrono::seconds(5));
  EXPECT_FALSE(ParseRfc3339("2026-13-01T00:00:00Z").has_value());
  EXPECT_FALSE(ParseRfc3339("yesterday").has_value());
  EXPECT_TRUE(ParseRfc3339("2026-11-22T03:04:05Z").has_value());
  // The clock's nanoseconds end in 2262: a later year overflowed it (found by fuzzing).
  EXPECT_TRUE(ParseRfc3339("2261-12-31T23:59:59.999999Z").has_value());
  EXPECT_FALSE(ParseRfc3339("7473-11-22T03:04:05Z").has_value());
  EXPECT_FALSE(ParseRfc3339("1969-12-31T23:59:59Z").has_value());
}

// --- Locks and prune -------------------------------------------------------------------------

class GcTest : public testing::RepoFixture {
 protected:
  size_t Packs() const {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path() / "repo" / "data")) {
      if (e.is_regular_file()) ++n;
    }
    return n;
  }

  void ExpectCheckPasses(Repository& repo) {
    CheckOptions o;
    o.read_data = true;
    auto r = Check(repo, o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors.front());
  }

  // The repository reopened through a HookedTransport (`*hooks`), to slow and count requests.
  std::unique_ptr<Repository> ReopenHooked(testing::HookedTransport** hooks) {
    auto hooked = std::make_unique<testing::HookedTransport>(
        LocalTransport::Open((dir_.path() / "repo").string()).value());
    *hooks = hooked.get();
    auto reopened = Repository::Open(std::move(hooked), "pw");
    EXPECT_TRUE(reopened.has_value()) << reopened.error().ToString();
    return reopened.has_value() ? std::move(*reopened) : nullptr;
  }
};

// A hook that makes the calls on names under `prefix` take 20 ms (a remote round trip) and
// records how many were ever in flight at once.
struct SlowCalls {
  explicit SlowCalls(std::string p) : prefix(std::move(p)) {}
  void operator()(std::string_view name) {
    if (!name.starts_with(prefix)) return;
    testing::HookedTransport::RecordMost(++now, most);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    --now;
  }
  const std::string prefix;
  std::atomic<int> now{0};
  std::atomic<int> most{0};
};

TEST_F(GcTest, ExclusiveLocksExcludeEachOtherAndStaleLocksAreSeen) {
  auto repo = InitRepo();
  auto first = RepoLock::Acquire(*repo, repo::LockKind::kExclusive);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  auto second = RepoLock::Acquire(*repo, repo::LockKind::kExclusive);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Status::Code::kUnavailable);
  EXPECT_NE(second.error().message().find("another prune, repair or key removal is running"),
            std::string::npos);
  auto pruned = Prune(*repo, {});
  ASSERT_FALSE(pruned.has_value());  // Prune takes the same lock.
  ASSERT_TRUE((*first)->Release().ok());
  EXPECT_TRUE(RepoLock::Acquire(*repo, repo::LockKind::kExclusive).has_value());

  // A lock nobody refreshes goes stale.
  LockTiming quick{std::chrono::seconds(3600), std::chrono::seconds(1)};
  auto held = RepoLock::Acquire(*repo, repo::LockKind::kBackup, quick);
  ASSERT_TRUE(held.has_value());
  auto fresh = ListLocks(*repo, quick, nullptr);
  ASSERT_TRUE(fresh.has_value());
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_FALSE(fresh->at(0).stale);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto later = ListLocks(*repo, quick, nullptr);
  ASSERT_TRUE(later.has_value());
  ASSERT_EQ(later->size(), 1u);
  EXPECT_TRUE(later->at(0).stale);
  EXPECT_NE(later->at(0).stale_reason.find("not refreshed for"), std::string::npos);
}

// A lock is written once when there is no prune record to honour (two round trips fewer for
// every job over a network), and rewritten with the records in `seen` when there are.
TEST_F(GcTest, ALockIsRewrittenOnlyToListPruneRecordsSeen) {
  auto repo = InitRepo();
  auto lock_of = [&](const repo::ObjectId& session) -> std::optional<repo::LockRecord> {
    auto locks = ListLocks(*repo, LockTiming{}, nullptr);
    EXPECT_TRUE(locks.has_value());
    for (const LockView& l : locks.value_or(std::vector<LockView>{})) {
      if (l.record.session == session) {
        EXPECT_EQ(l.names.size(), 1u) << "the previous generation is deleted";
        return l.record;
      }
    }
    return std::nullopt;
  };
  auto quiet = RepoLock::Acquire(*repo, repo::LockKind::kRead);
  ASSERT_TRUE(quiet.has_value()) << quiet.error().ToString();
  auto first = lock_of((*quiet)->session());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->generation, 1u);
  EXPECT_TRUE(first->seen.empty());

  // A prune that has to wait for the job above leaves its record behind.
  const std::string a = MakeVolume("a.img", 1);
  auto snap = Run(*repo, {{a, "a"}});
  ASSERT_TRUE(snap.has_value()) << snap.error().ToString();
  ASSERT_TRUE(repo->ForgetSnapshot(snap->snapshot.id).ok());
  auto pruned = Prune(*repo, {});
  ASSERT_TRUE(pruned.has_value()) << pruned.error().ToString();
  ASSERT_EQ(pruned->records_pending, 1u);
  auto honouring = RepoLock::Acquire(*repo, repo::LockKind::kBackup);
  ASSERT_TRUE(honouring.has_value()) << honouring.error().ToString();
  auto second = lock_of((*honouring)->session());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->generation, 2u);
  ASSERT_EQ((*honouring)->honoured().size(), 1u);
  EXPECT_EQ(second->seen, std::vector<repo::ObjectId>{(*honouring)->honoured()[0].id});
}

// Snapshots, index objects, prune records and key files are named by fresh random ids: putting
// them "exclusive" would cost S3 a HEAD each, and a PUT retried after a lost response would fail
// on its own first attempt. A backup, a prune that repacks, an index repair and an init ask for
// none; only the config keeps the check.
TEST_F(GcTest, ObjectsNamedByFreshIdsArePutWithoutAnExistenceCheck) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 3), b = MakeVolume("b.img", 4);
  auto kept = Run(*repo, {{a, "a"}, {b, "b"}});
  auto forgotten = Run(*repo, {{MakeVolume("c.img", 5), "c"}});
  ASSERT_TRUE(kept.has_value() && forgotten.has_value());
  ASSERT_TRUE(repo->ForgetSnapshot(kept->snapshot.id).ok());

  testing::HookedTransport* transport = nullptr;
  auto reopened = ReopenHooked(&transport);
  ASSERT_NE(reopened, nullptr);
  std::mutex mu;
  std::vector<std::string> puts, exclusive;
  transport->before_put = [&](std::string_view name, bool is_exclusive) {
    std::lock_guard g(mu);
    puts.emplace_back(name);
    if (is_exclusive) exclusive.emplace_back(name);
  };
  auto again = Run(*reopened, {{a, "a"}, {MakeVolume("d.img", 6), "d"}});
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  PruneOptions o;
  o.repack_unused = 0.01;
  auto pruned = Prune(*reopened, o);
  ASSERT_TRUE(pruned.has_value()) << pruned.error().ToString();
  ASSERT_TRUE(RepairIndex(*reopened, {}).has_value());
  transport->before_put = nullptr;
  auto written = [&](std::string_view prefix) {
    return std::count_if(puts.begin(), puts.end(),
                         [&](const std::string& n) { return n.starts_with(prefix); });
  };
  EXPECT_GE(written("snapshots/"), 1);
  EXPECT_GE(written("index/"), 2) << "the backup's, the repair's";
  EXPECT_GE(pruned->packs_deleted, 1u);
  EXPECT_GE(written("prune/"), 1);
  EXPECT_TRUE(exclusive.empty()) << exclusive.front();
  ExpectCheckPasses(*reopened);

  // A new repository: its key file is named by a fresh id too; its config is the one fixed name
  // and keeps the check (a second init must not replace it).
  std::filesystem::create_directories(dir_.path() / "other");
  auto elsewhere = std::make_unique<testing::HookedTransport>(
      LocalTransport::Open((dir_.path() / "other").string()).value());
  puts.clear();
  elsewhere->before_put = [&](std::string_view name, bool is_exclusive) {
    if (is_exclusive) exclusive.emplace_back(name);
    puts.emplace_back(name);
  };
  ASSERT_TRUE(Repository::Init(std::move(elsewhere), TestInitOptions()).has_value());
  EXPECT_EQ(written("keys/"), 1);
  EXPECT_EQ(exclusive, std::vector<std::string>{"config"});
}

TEST_F(GcTest, PruneWaitsForJobsThatStartedBeforeItAndFinishesLater) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 1), b = MakeVolume("b.img", 2);
  auto snap_a = Run(*repo, {{a, "a"}});
  auto snap_b = Run(*repo, {{b, "b"}});
  ASSERT_TRUE(snap_a.has_value() && snap_b.has_value());
  const size_t packs_before = Packs();
  ASSERT_TRUE(repo->ForgetSnapshot(snap_a->snapshot.id).ok());

  // A backup that started before the prune and is still running.
  auto running = RepoLock::Acquire(*repo, repo::LockKind::kBackup);
  ASSERT_TRUE(running.has_value());
  auto first = Prune(*repo, {});
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->packs_deleted, 0u);
  EXPECT_EQ(first->records_pending, 1u);
  ASSERT_EQ(first->waiting.size(), 1u);
  EXPECT_NE(first->waiting[0].find("backup lock of host"), std::string::npos);
  EXPECT_EQ(Packs(), packs_before);

  // A backup that starts now honours the record: it stores a's chunks again rather than
  // deduplicating against packs about to go.
  auto again = Run(*repo, {{a, "a"}});
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_GT(again->snapshot.stats.bytes_new, 2u << 20);

  ASSERT_TRUE((*running)->Release().ok());
  auto second = Prune(*repo, {});
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_GT(second->packs_deleted, 0u);
  EXPECT_EQ(second->records_pending, 0u);
  auto reopened = Reopen();
  ExpectRestores(*reopened, reopened->ResolveSnapshot(snap_b->snapshot.id.ToHex()).value(), "b", b);
  ExpectRestores(*reopened, reopened->ResolveSnapshot(again->snapshot.id.ToHex()).value(), "a", a);
  ExpectCheckPasses(*reopened);
}

TEST_F(GcTest, ASnapshotWrittenAfterTheRecordRevivesTheCandidatesItUses) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 3);
  auto snap_a = Run(*repo, {{a, "a"}});
  ASSERT_TRUE(snap_a.has_value());
  ASSERT_TRUE(repo->ForgetSnapshot(snap_a->snapshot.id).ok());

  auto running = RepoLock::Acquire(*repo, repo::LockKind::kBackup);
  ASSERT_TRUE(running.has_value());
  auto first = Prune(*repo, {});
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->records_pending, 1u);

  // The running backup (which deduplicated against a's chunks before the record existed)
  // publishes a snapshot that uses them.
  repo::Snapshot late = snap_a->snapshot;
  late.id = repo::NewObjectId().value();
  late.time = NowRfc3339();
  auto sealer = repo->NewSealer().value();
  const std::string sealed = repo::EncodeSnapshot(*sealer, late).value();
  ASSERT_TRUE(repo->transport().Put("snapshots/" + late.id.ToHex(), AsBytes(sealed), true).ok());
  ASSERT_TRUE((*running)->Release().ok());

  auto second = Prune(*repo, {});
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_GT(second->packs_revived, 0u);
  EXPECT_EQ(second->packs_deleted, 0u);
  auto reopened = Reopen();
  ExpectRestores(*reopened, reopened->ResolveSnapshot(late.id.ToHex()).value(), "a", a);
  ExpectCheckPasses(*reopened);
}

TEST_F(GcTest, ABackupThatMayHaveGoneStaleRevalidatesItsOwnMapsAndPublishes) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 5);
  BackupOptions o;
  o.lock_timing = {std::chrono::seconds(3600), std::chrono::seconds(0)};  // Always "stale".
  ASSERT_TRUE(Run(*repo, {{a, "a"}}, o).has_value());
  auto second = Run(*repo, {{a, "a"}}, o);  // Takes every chunk from the first one's packs.
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  auto reopened = Reopen();
  ExpectRestores(*reopened, reopened->ResolveSnapshot(second->snapshot.id.ToHex()).value(), "a", a);
}

TEST_F(GcTest, ABackupWhoseLockWentStaleRefusesToPublishOverPrunedPacks) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 4);
  ASSERT_TRUE(Run(*repo, {{a, "a"}}).has_value());
  std::set<repo::ObjectId> packs;
  for (const auto& [id, loc] : repo->index()) packs.insert(loc.pack);
  ASSERT_FALSE(packs.empty());

  const auto used = [&]() -> Result<std::set<repo::ObjectId>> { return packs; };
  LockTiming quick{std::chrono::seconds(3600), std::chrono::seconds(1)};
  auto lock = RepoLock::Acquire(*repo, repo::LockKind::kBackup, quick);
  ASSERT_TRUE(lock.has_value());
  EXPECT_TRUE((*lock)->ValidateBeforeNaming(used).ok());  // Fresh: nothing to check.

  // Meanwhile a prune that took the lock for dead records one of the packs.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  repo::PruneRecord record;
  record.id = repo::NewObjectId().value();
  record.time = NowRfc3339();
  record.packs = {*packs.begin()};
  auto sealer = repo->NewSealer().value();
  ASSERT_TRUE(repo->transport()
                  .Put(repo::PruneRecordName(record.id),
                       AsBytes(repo::EncodePruneRecord(*sealer, record).value()))
                  .ok());
  Status s = (*lock)->ValidateBeforeNaming(used);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("is deleting pack " + packs.begin()->ToHex()), std::string::npos);

  // Or already deleted it.
  ASSERT_TRUE(repo->transport().Remove(repo::PruneRecordName(record.id)).ok());
  ASSERT_TRUE(repo->transport().Remove(repo::PackName(*packs.begin())).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  s = (*lock)->ValidateBeforeNaming(used);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("was pruned"), std::string::npos);
}

// The same, earlier: a backup that stalls after publishing a pack, while a prune takes it for
// dead and deletes that pack, must not then write an index naming it (check would reject the
// repository, although the backup fails before its snapshot).
TEST_F(GcTest, ABackupTakenForDeadIndexesNoPackThatAPruneDeleted) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 4);
  auto first = Run(*repo, {{a, "a"}});
  ASSERT_TRUE(first.has_value());

  testing::HookedTransport* transport = nullptr;
  auto stalled = ReopenHooked(&transport);
  ASSERT_NE(stalled, nullptr);
  const LockTiming quick{std::chrono::seconds(3600), std::chrono::seconds(1)};
  std::atomic<int> packs_started{0};
  std::optional<Result<PruneReport>> pruned;
  transport->before_create = [&](std::string_view name) {
    // The second pack: the first one is published and not yet indexed. Stall past the stale
    // time and let a prune run meanwhile.
    if (!name.starts_with("data/") || ++packs_started != 2) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    PruneOptions o;
    o.lock_timing = quick;
    pruned = Prune(*Reopen(), o);
  };
  BackupOptions o;
  o.lock_timing = quick;
  o.index_every_packs = 1000;  // One index object, at the end.
  auto second = Run(*stalled, {{MakeVolume("b.img", 7), "b"}}, o);
  ASSERT_TRUE(pruned.has_value()) << "the backup wrote fewer than two packs";
  ASSERT_TRUE(pruned->has_value()) << pruned->error().ToString();
  ASSERT_GE((*pruned)->packs_deleted, 1u) << "the prune did not take the backup for dead";
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Status::Code::kUnavailable) << second.error().ToString();
  EXPECT_NE(second.error().message().find("was pruned"), std::string::npos)
      << second.error().ToString();
  // What it wrote and could not index is removed by the backup itself, not left to prune.
  EXPECT_NE(second.error().message().find("that this backup had written and no index names"),
            std::string::npos)
      << second.error().ToString();

  auto reopened = Reopen();
  ExpectCheckPasses(*reopened);
  ExpectRestores(*reopened, first->snapshot, "a", a);
}

// A repository that takes no new object (its storage is full, or it is read-only to this user):
// check and restore still read it, saying they hold no lock, as one needs them to decide what to
// forget; a prune fails before it changes anything, saying why.
TEST_F(GcTest, WhereNoLockCanBeWrittenReadersGoOnAndAPruneSaysWhy) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 4);
  auto first = Run(*repo, {{a, "a"}});
  ASSERT_TRUE(first.has_value());
  const size_t packs = Packs();
  for (const Status& refusal :
       {Status::FromErrno(ENOSPC, "write locks/x"), Status::FromErrno(EACCES, "create locks/x")}) {
    SCOPED_TRACE(refusal.ToString());
    testing::HookedTransport* transport = nullptr;
    auto stuck = ReopenHooked(&transport);
    ASSERT_NE(stuck, nullptr);
    transport->write_error = [&](std::string_view) { return refusal; };
    auto checked = Check(*stuck, {});
    ASSERT_TRUE(checked.has_value()) << checked.error().ToString();
    EXPECT_TRUE(checked->ok());
    ASSERT_EQ(checked->warnings.size(), 1u);
    EXPECT_NE(checked->warnings[0].find("reading without a lock"), std::string::npos)
        << checked->warnings[0];
    ExpectRestores(*stuck, first->snapshot, "a", a);
    ASSERT_TRUE(stuck->ForgetSnapshot(first->snapshot.id).ok());
    auto pruned = Prune(*stuck, {});
    ASSERT_FALSE(pruned.has_value());
    EXPECT_EQ(pruned.error().code(), refusal.code()) << pruned.error().ToString();
    if (refusal.IsNoSpace()) {
      EXPECT_NE(pruned.error().message().find("the repository's storage is full: make room"),
                std::string::npos)
          << pruned.error().ToString();
    }
    EXPECT_EQ(Packs(), packs);
    // Put the snapshot back for the next refusal.
    transport->write_error = nullptr;
    auto again = Run(*stuck, {{a, "a"}});
    ASSERT_TRUE(again.has_value()) << again.error().ToString();
    first = std::move(again);
  }
}

// A retention policy's forget and prune that run while a restore of the snapshot they forget is
// reading its packs: the restore's own read lock makes the prune leave those packs until it ends.
// A library caller need not take that lock (the CLI used to, and the library left it to callers).
TEST_F(GcTest, ARestoreKeepsItsPacksFromAPruneThatForgetsItsSnapshotMeanwhile) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 5);
  auto backed_up = Run(*repo, {{a, "a"}});
  ASSERT_TRUE(backed_up.has_value());
  const size_t packs_before = Packs();

  testing::HookedTransport* transport = nullptr;
  auto restoring = ReopenHooked(&transport);
  ASSERT_NE(restoring, nullptr);
  ASSERT_TRUE(restoring->LoadIndex().ok());  // What a caller without a lock would do.
  std::once_flag once;
  std::optional<Result<PruneReport>> pruned;
  transport->around_read = [&] {
    std::call_once(once, [&] {
      auto other = Reopen();
      ASSERT_TRUE(other->ForgetSnapshot(backed_up->snapshot.id).ok());
      pruned = Prune(*other, {});
    });
  };
  const std::string out = (dir_.path() / "restored").string();
  auto restored = Restore(*restoring, backed_up->snapshot, "a", out, {});
  ASSERT_TRUE(pruned.has_value()) << "the restore read no pack";
  ASSERT_TRUE(pruned->has_value()) << pruned->error().ToString();
  EXPECT_EQ((*pruned)->packs_deleted, 0u);
  ASSERT_EQ((*pruned)->waiting.size(), 1u);
  EXPECT_NE((*pruned)->waiting[0].find("read lock"), std::string::npos) << (*pruned)->waiting[0];
  ASSERT_TRUE(restored.has_value()) << restored.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(out), testing::ReadFileOrDie(a));
  EXPECT_EQ(Packs(), packs_before);

  // The restore's lock is gone: the next prune finishes what the first one chose.
  auto after = Reopen();
  auto second = Prune(*after, {});
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(second->packs_deleted, packs_before);
  EXPECT_EQ(second->records_pending, 0u);
  ExpectCheckPasses(*after);
}

// A volume's map has a page per GiB: prune's mark phase reads the pages of every snapshot many at
// once and still marks every chunk they name.
// A writer killed between writing a temporary and renaming it leaves the temporary, which no
// listing shows. Prune deletes those nothing has written to for the stale-lock time (a dry run
// only counts them) and leaves younger ones, which may belong to a backup running now.
TEST_F(GcTest, PruneDeletesTemporariesThatKilledWritersLeftOnceTheyAreStale) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 41);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  const fs::path root = dir_.path() / "repo";

  const fs::path dead_pack = root / "data" / "7f" / ".tmp-dead-pack";
  const fs::path dead_lock = root / "locks" / ".tmp-dead-lock";
  const fs::path young = root / "data" / "7f" / ".tmp-being-written";
  testing::WriteFileWrittenAgo(dead_pack, 1 << 20, std::chrono::hours(2));
  testing::WriteFileWrittenAgo(dead_lock, 300, std::chrono::hours(1));
  testing::WriteFileWrittenAgo(young, 4096, std::chrono::hours(0));

  PruneOptions dry;
  dry.dry_run = true;
  auto counted = Prune(*repo, dry);
  ASSERT_TRUE(counted.has_value()) << counted.error().ToString();
  EXPECT_EQ(counted->leftovers_removed, 2u);
  EXPECT_TRUE(fs::exists(dead_pack)) << "a dry run deleted a leftover";

  auto pruned = Prune(*repo, {});
  ASSERT_TRUE(pruned.has_value()) << pruned.error().ToString();
  EXPECT_EQ(pruned->leftovers_removed, 2u);
  EXPECT_EQ(pruned->leftover_bytes_removed, (1u << 20) + 300);
  EXPECT_FALSE(fs::exists(dead_pack));
  EXPECT_FALSE(fs::exists(dead_lock));
  EXPECT_TRUE(fs::exists(young)) << "a temporary written to just now may be a live backup's";
  ExpectCheckPasses(*repo);
  ExpectRestores(*repo, backup->snapshot, "v", vol);
}

TEST_F(GcTest, PruneReadsALargeVolumesMapPagesManyAtOnce) {
  auto repo = InitRepo();
  const std::string large = MakeLargeVolume("large.img", 4);
  auto kept = Run(*repo, {{large, "large"}});
  ASSERT_TRUE(kept.has_value()) << kept.error().ToString();
  ASSERT_GE(kept->snapshot.volumes.at(0).pages.size(), 5u);
  auto gone = Run(*repo, {{MakeVolume("small.img", 5), "small"}});
  ASSERT_TRUE(gone.has_value()) << gone.error().ToString();
  ASSERT_TRUE(repo->ForgetSnapshot(gone->snapshot.id).ok());

  testing::HookedTransport* transport = nullptr;
  auto reopened = ReopenHooked(&transport);
  ASSERT_NE(reopened, nullptr);
  transport->around_read = [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  auto pruned = Prune(*reopened, {});
  ASSERT_TRUE(pruned.has_value()) << pruned.error().ToString();
  EXPECT_GT(pruned->packs_deleted + pruned->packs_repacked, 0u) << "the small volume's packs";
  EXPECT_GE(transport->most_reads_in_flight.load(), 2) << "map pages read one at a time";
  transport->around_read = nullptr;
  ExpectCheckPasses(*reopened);
}

// Prune reads the whole index two to four times (where map pages are, how much of each pack is
// used, what candidates hold), rewrites the index objects that name packs it deletes, and
// deletes packs; over a network each object is a round trip or more, and a backup writes an
// index object every few packs. Several go at once (and the index is visited in order).
TEST_F(GcTest, PruneFetchesIndexObjectsAndDeletesPacksManyAtOnce) {
  auto repo = InitRepo();
  std::vector<repo::ObjectId> snapshots;
  for (uint64_t seed = 50; seed < 56; ++seed) {
    auto b = Run(*repo, {{MakeVolume(fmt::format("v{}.img", seed), seed), "v"}});
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    snapshots.push_back(b->snapshot.id);
  }
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(repo->ForgetSnapshot(snapshots[i]).ok());

  testing::HookedTransport* transport = nullptr;
  auto reopened = ReopenHooked(&transport);
  ASSERT_NE(reopened, nullptr);
  ASSERT_GE(reopened->transport().List("index").value().size(), 6u);
  SlowCalls index_gets("index/"), pack_removes("data/");
  transport->before_get = [&](std::string_view name) { index_gets(name); };
  transport->before_remove = [&](std::string_view name) { pack_removes(name); };
  auto pruned = Prune(*reopened, {});
  ASSERT_TRUE(pruned.has_value()) << pruned.error().ToString();
  EXPECT_GE(pruned->packs_deleted, 2u) << "the forgotten volumes' packs";
  EXPECT_GE(index_gets.most.load(), 2) << "index objects fetched one at a time";
  EXPECT_GE(pack_removes.most.load(), 2) << "packs deleted one at a time";
  transport->before_get = nullptr;
  transport->before_remove = nullptr;
  ExpectCheckPasses(*reopened);
}

// Over S3 a Size() is a HEAD per pack. Check, prune (of its own record and of one a blocked
// prune left) and repair take the packs' sizes from their listing instead, and read a pack's
// trailer and header in one request; repair reads many at once, as check does.
TEST_F(GcTest, CheckPruneAndRepairTakePackSizesFromTheListing) {
  auto repo = InitRepo();
  std::vector<repo::ObjectId> snapshots;
  std::vector<std::string> volumes;
  for (uint64_t seed = 60; seed < 64; ++seed) {
    volumes.push_back(MakeVolume(fmt::format("v{}.img", seed), seed));
    auto b = Run(*repo, {{volumes.back(), fmt::format("v{}", seed)}});
    ASSERT_TRUE(b.has_value()) << b.error().ToString();
    snapshots.push_back(b->snapshot.id);
  }
  auto pack_sizes = [&] {
    std::map<std::string, uint64_t> sizes;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path() / "repo" / "data")) {
      if (e.is_regular_file()) sizes[e.path().filename().string()] = e.file_size();
    }
    return sizes;
  };
  // What a prune deleted: how many packs, and their bytes.
  auto gone = [](const std::map<std::string, uint64_t>& before,
                 const std::map<std::string, uint64_t>& after) {
    std::pair<uint64_t, uint64_t> packs_bytes{0, 0};
    for (const auto& [name, size] : before) {
      if (after.count(name) != 0) continue;
      ++packs_bytes.first;
      packs_bytes.second += size;
    }
    return packs_bytes;
  };

  testing::HookedTransport* transport = nullptr;
  auto hooked = ReopenHooked(&transport);
  ASSERT_NE(hooked, nullptr);
  const size_t packs = Packs();
  auto checked = Check(*hooked, {});
  ASSERT_TRUE(checked.has_value()) << checked.error().ToString();
  EXPECT_TRUE(checked->ok());
  EXPECT_EQ(checked->packs, packs);
  EXPECT_EQ(transport->sizes.load(), 0) << "check asked packs their sizes";

  // A prune blocked by a running job leaves its record; the next one finishes it. One of the
  // record's packs is already gone, as if an interrupted prune had deleted it.
  ASSERT_TRUE(hooked->ForgetSnapshot(snapshots[0]).ok());
  auto running = RepoLock::Acquire(*hooked, repo::LockKind::kBackup);
  ASSERT_TRUE(running.has_value());
  auto blocked = Prune(*hooked, {});
  ASSERT_TRUE(blocked.has_value()) << blocked.error().ToString();
  ASSERT_EQ(blocked->records_pending, 1u);
  ASSERT_TRUE((*running)->Release().ok());
  auto before = pack_sizes();
  auto records = hooked->transport().List("prune");
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 1u);
  const std::string& record_name = records->front();
  auto record = repo::DecodePruneRecord(*hooked->NewSealer().value(),
                                        repo::ObjectIdOfName(record_name).value(),
                                        hooked->transport().Get(record_name).value(), record_name);
  ASSERT_TRUE(record.has_value()) << record.error().ToString();
  ASSERT_GE(record->packs.size(), 2u);
  ASSERT_TRUE(hooked->transport().Remove(repo::PackName(record->packs.front())).ok());
  const std::string already_gone = record->packs.front().ToHex();
  ASSERT_EQ(before.count(already_gone), 1u);
  const uint64_t already_gone_bytes = before.at(already_gone);
  auto finished = Prune(*hooked, {});
  ASSERT_TRUE(finished.has_value()) << finished.error().ToString();
  auto after = pack_sizes();
  const auto [packs_gone, bytes_gone] = gone(before, after);
  EXPECT_EQ(finished->packs_deleted, packs_gone - 1) << "the pack deleted before counts";
  EXPECT_EQ(finished->bytes_deleted, bytes_gone - already_gone_bytes);
  EXPECT_GT(finished->packs_deleted, 0u);

  // A prune that marks and deletes in one run.
  ASSERT_TRUE(hooked->ForgetSnapshot(snapshots[1]).ok());
  before = after;
  auto pruned = Prune(*hooked, {});
  ASSERT_TRUE(pruned.has_value()) << pruned.error().ToString();
  after = pack_sizes();
  EXPECT_GT(pruned->packs_deleted, 0u);
  EXPECT_EQ(std::make_pair(pruned->packs_deleted, pruned->bytes_deleted), gone(before, after));
  EXPECT_EQ(transport->sizes.load(), 0) << "prune asked packs their sizes";

  // Each read as slow as a remote round trip: repair reads many headers at once.
  const int reads_before = transport->reads.load();
  transport->most_reads_in_flight = 0;
  transport->around_read = [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  auto repaired = RepairIndex(*hooked, {});
  transport->around_read = nullptr;
  EXPECT_GE(transport->most_reads_in_flight.load(), 4) << "repair read headers one at a time";
  ASSERT_TRUE(repaired.has_value()) << repaired.error().ToString();
  EXPECT_EQ(repaired->packs, Packs());
  EXPECT_EQ(transport->reads.load() - reads_before, static_cast<int>(Packs()))
      << "repair read each pack's trailer and header apart";
  EXPECT_EQ(transport->sizes.load(), 0) << "repair asked packs their sizes";
  ExpectCheckPasses(*hooked);
  for (size_t i = 2; i < snapshots.size(); ++i) {
    ExpectRestores(*hooked, hooked->ResolveSnapshot(snapshots[i].ToHex()).value(),
                   fmt::format("v{}", 60 + i), volumes[i]);
  }
}

}  // namespace
}  // namespace ferry
