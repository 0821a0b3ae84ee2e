// Loading a repository's index and snapshot list, one request per object, many at once, while a
// prune replaces index objects and a forget deletes snapshots between the listing and the reads.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "engine/block_hasher.h"
#include "engine/hooked_transport.h"
#include "engine/repo_fixture.h"
#include "engine/restore.h"
#include "formats/repo/index_file.h"

namespace ferry {
namespace {

using testing::HookedTransport;

class RepositoryLoadTest : public testing::RepoFixture {
 protected:
  // A repository with `backups` snapshots of changing volumes (an index object each), reopened
  // through a HookedTransport.
  std::pair<std::unique_ptr<Repository>, HookedTransport*> Reopened(int backups) {
    auto repo = InitRepo();
    for (int i = 0; i < backups; ++i) {
      const std::string vol =
          MakeVolume("vol" + std::to_string(i) + ".img", 100u + static_cast<unsigned>(i));
      auto b = Run(*repo, {{vol, "v"}});
      EXPECT_TRUE(b.has_value()) << b.error().ToString();
      snapshots_.push_back(b->snapshot);
      volumes_.push_back(vol);
    }
    auto hooked = std::make_unique<HookedTransport>(
        LocalTransport::Open((dir_.path() / "repo").string()).value());
    HookedTransport* raw = hooked.get();
    auto r = Repository::Open(std::move(hooked), "pw");
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return {std::move(*r), raw};
  }

  std::vector<repo::Snapshot> snapshots_;
  std::vector<std::string> volumes_;
};

TEST_F(RepositoryLoadTest, IndexObjectsReplacedWhileLoadingAreFollowedToTheirReplacements) {
  auto [repo, hooked] = Reopened(6);
  HookedTransport* transport = hooked;  // (lambdas cannot capture structured bindings in C++20)
  auto listed = transport->List("index");
  ASSERT_TRUE(listed.has_value());
  ASSERT_GE(listed->size(), 6u);
  // As a prune does: write the replacement under a new id, then delete the old object, here
  // just before the loader reads it, for every other index object.
  std::mutex mu;
  std::set<std::string> replaced;
  int seen = 0;
  Repository* r = repo.get();
  transport->before_get = [&](std::string_view name) {
    if (!name.starts_with("index/")) return;
    std::lock_guard lock(mu);
    if (replaced.count(std::string(name)) != 0 || seen++ % 2 != 0) return;
    auto sealer = r->NewSealer().value();
    const std::string old_name(name);
    const auto old_id = repo::ObjectIdOfName(old_name).value();
    // ReadAt, not Get: the hook must not run itself.
    std::string bytes(8 << 20, '\0');
    auto n = transport->ReadAt(old_name, 0, AsWritableBytes(bytes));
    ASSERT_TRUE(n.has_value());
    bytes.resize(*n);
    auto entries = repo::DecodeIndex(*sealer, old_id, bytes, old_name).value();
    const repo::ObjectId new_id = repo::NewObjectId().value();
    const std::string new_name = "index/" + new_id.ToHex();
    ASSERT_TRUE(
        transport->Put(new_name, AsBytes(repo::EncodeIndex(*sealer, new_id, entries).value()))
            .ok());
    replaced.insert(new_name);
    ASSERT_TRUE(transport->Remove(old_name).ok());
  };
  ASSERT_TRUE(repo->LoadIndex().ok());
  EXPECT_GE(replaced.size(), 3u);
  transport->before_get = nullptr;
  // Every chunk of every snapshot is found: each restores byte-exact.
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    ExpectRestores(*repo, snapshots_[i], "v", volumes_[i]);
  }
}

TEST_F(RepositoryLoadTest, SnapshotsForgottenWhileListingAreLeftOut) {
  auto [repo, hooked] = Reopened(5);
  HookedTransport* transport = hooked;  // (lambdas cannot capture structured bindings in C++20)
  const std::string gone = "snapshots/" + snapshots_[2].id.ToHex();
  transport->before_get = [&](std::string_view name) {
    if (name == gone) {
      ASSERT_TRUE(transport->Remove(name).ok());
    }
  };
  const int before = transport->gets.load();
  auto listed = repo->ListSnapshots();
  ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
  EXPECT_EQ(transport->gets.load() - before, 5) << "one read per snapshot object";
  ASSERT_EQ(listed->size(), 4u);
  std::vector<repo::ObjectId> expected;
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    if (i != 2) expected.push_back(snapshots_[i].id);
  }
  std::vector<repo::ObjectId> got;
  for (const repo::Snapshot& s : *listed) got.push_back(s.id);
  EXPECT_EQ(got, expected) << "oldest first, in the order they were taken";
}

TEST_F(RepositoryLoadTest, AnUnreadableIndexObjectFailsTheLoadNamingIt) {
  auto [repo, hooked] = Reopened(3);
  HookedTransport* transport = hooked;  // (lambdas cannot capture structured bindings in C++20)
  auto listed = transport->List("index");
  ASSERT_TRUE(listed.has_value());
  const std::string victim = listed->at(1);
  ASSERT_TRUE(transport->Put(victim, AsBytes(std::string("not an index"))).ok());
  Status s = repo->LoadIndex();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find(victim), std::string::npos) << s.ToString();
}

// A volume has a map page per GiB and a block-hash page per GiB of 64 KiB blocks: read one after
// another over a network, a large volume's pages delayed the first byte of a restore by a round
// trip each.
TEST_F(RepositoryLoadTest, PagesOfALargeVolumeAreReadManyAtOnce) {
  auto repo = InitRepo();
  const std::string path = MakeLargeVolume("large.img", 4);
  auto b = Run(*repo, {{path, "large"}});
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  const repo::SnapshotVolume& volume = b->snapshot.volumes.at(0);
  ASSERT_GE(volume.pages.size(), 5u);
  ASSERT_GE(volume.hash_pages.size(), 5u);
  auto map = LoadVolumeMap(*repo, volume);
  ASSERT_TRUE(map.has_value()) << map.error().ToString();
  auto hashes = LoadBlockHashes(*repo, volume);
  ASSERT_TRUE(hashes.has_value()) << hashes.error().ToString();

  // The same pages through a transport whose reads take 20 ms each, as a remote one's do.
  auto hooked = std::make_unique<HookedTransport>(
      LocalTransport::Open((dir_.path() / "repo").string()).value());
  HookedTransport* transport = hooked.get();
  auto reopened = Repository::Open(std::move(hooked), "pw");
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  transport->around_read = [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  transport->most_reads_in_flight = 0;
  auto map_again = LoadVolumeMap(**reopened, volume);
  ASSERT_TRUE(map_again.has_value()) << map_again.error().ToString();
  EXPECT_EQ(*map_again, *map) << "the pages, in order";
  EXPECT_GE(transport->most_reads_in_flight.load(), 2) << "map pages read one at a time";
  transport->most_reads_in_flight = 0;
  auto hashes_again = LoadBlockHashes(**reopened, volume);
  ASSERT_TRUE(hashes_again.has_value()) << hashes_again.error().ToString();
  EXPECT_EQ(*hashes_again, *hashes);
  EXPECT_GE(transport->most_reads_in_flight.load(), 2) << "block hash pages read one at a time";
}

// Asking for a passphrase only when the repository is encrypted used to read the config twice:
// on S3 a round trip of every command.
TEST_F(RepositoryLoadTest, OpeningReadsTheConfigOnceAndAsksForAPassphraseOnlyIfEncrypted) {
  for (const bool encrypted : {true, false}) {
    SCOPED_TRACE(encrypted ? "encrypted" : "not encrypted");
    std::filesystem::remove_all(dir_.path() / "repo");
    InitRepo(encrypted);
    auto hooked = std::make_unique<HookedTransport>(
        LocalTransport::Open((dir_.path() / "repo").string()).value());
    std::atomic<int> config_reads{0};
    hooked->before_get = [&](std::string_view name) { config_reads += name == "config" ? 1 : 0; };
    int asked = 0;
    auto r = Repository::Open(std::move(hooked), [&]() -> Result<std::string> {
      ++asked;
      return std::string("pw");
    });
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(config_reads.load(), 1);
    EXPECT_EQ(asked, encrypted ? 1 : 0);
  }
  // What the source says when it has no passphrase is what the caller hears.
  auto r = Repository::Open(
      LocalTransport::Open((dir_.path() / "repo").string()).value(),
      []() -> Result<std::string> { return Err(Status::InvalidArgument("no passphrase given")); });
  ASSERT_TRUE(r.has_value()) << "the last repository is not encrypted: nothing is asked";
  std::filesystem::remove_all(dir_.path() / "repo");
  InitRepo(true);
  r = Repository::Open(
      LocalTransport::Open((dir_.path() / "repo").string()).value(),
      []() -> Result<std::string> { return Err(Status::InvalidArgument("no passphrase given")); });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "no passphrase given");
}

TEST_F(RepositoryLoadTest, OpeningAsksForTheConfigAndTheKeyListingAtOnce) {
  InitRepo();
  auto hooked = std::make_unique<HookedTransport>(
      LocalTransport::Open((dir_.path() / "repo").string()).value());
  // Both requests take as long as a slow round trip; they must be in flight at the same time
  // (whichever starts first).
  std::atomic<int> in_flight{0}, most_in_flight{0};
  auto slow = [&] {
    HookedTransport::RecordMost(++in_flight, most_in_flight);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    --in_flight;
  };
  hooked->before_get = [&](std::string_view name) {
    if (name == "config") slow();
  };
  hooked->before_list = [&](std::string_view prefix) {
    if (prefix == "keys") slow();
  };
  auto r = Repository::Open(std::move(hooked), "pw");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(most_in_flight.load(), 2);
  // A missing repository still says so, whatever became of the listing.
  std::filesystem::remove(dir_.path() / "repo" / "config");
  r = Repository::Open(LocalTransport::Open((dir_.path() / "repo").string()).value(), "pw");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsNotFound()) << r.error().ToString();
  EXPECT_NE(r.error().message().find("no config; run ferry init first"), std::string::npos);
}

}  // namespace
}  // namespace ferry
