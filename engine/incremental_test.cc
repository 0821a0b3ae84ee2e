// CBT-driven incremental backups: the map of an incremental backup equals the map of a full
// backup of the same new volume (randomised, many seeds, both kinds of chunker), its restore is
// byte-exact, it reads little, and a change source that lies is caught by --cbt-verify.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <thread>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include "engine/block_hasher.h"
#include "engine/hooked_transport.h"
#include "engine/repo_fixture.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

class IncrementalTest : public testing::RepoFixture {
 protected:
  // Writes `data` at `offset` of `fd`.
  static void WriteAt(int fd, uint64_t offset, const std::string& data) {
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(data.size()));
  }

  // A volume of random data, text, zero runs and holes, `size` bytes.
  static void MakeRandomVolume(const std::string& path, uint64_t size, std::mt19937_64& rng) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    for (uint64_t at = 0; at < size;) {
      const uint64_t len = std::min<uint64_t>(size - at, 4096 + rng() % (300 << 10));
      switch (rng() % 4) {
        case 0:
          WriteAt(fd, at, testing::RandomBytes(len, rng()));
          break;
        case 1:
          WriteAt(fd, at, testing::PseudoText(len, rng()));
          break;
        case 2:
          WriteAt(fd, at, std::string(len, '\0'));
          break;
        default:
          break;  // A hole.
      }
      at += len;
    }
    ::close(fd);
  }

  // Changes the volume the way a disk changes, returning the changed ranges (what a CBT reports).
  static cbt::ExtentList Mutate(const std::string& path, std::mt19937_64& rng) {
    const int fd = ::open(path.c_str(), O_RDWR);
    struct stat st {};
    ::fstat(fd, &st);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    cbt::ExtentList changed;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < edits; ++i) {
      const uint64_t len = 1 + rng() % (rng() % 2 ? 100 : 80 << 10);
      const uint64_t at = rng() % (size + (64 << 10));  // Sometimes past the end: it grows.
      switch (rng() % 5) {
        case 0:  // Punch a hole (a discard).
          if (at + len <= size) {
            ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(at),
                        static_cast<off_t>(len));
            changed.push_back({at, len});
            break;
          }
          [[fallthrough]];
        case 1:
          WriteAt(fd, at, testing::PseudoText(len, rng()));
          changed.push_back({at, len});
          break;
        default:
          WriteAt(fd, at, testing::RandomBytes(len, rng()));
          changed.push_back({at, len});
          break;
      }
      size = std::max(size, at + len);
    }
    if (rng() % 4 == 0) {  // Grown with a hole at the end.
      size += rng() % (200 << 10);
      EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    }
    ::close(fd);
    return cbt::Normalize(changed);
  }

  std::vector<repo::Extent> MapOf(Repository& repo, const repo::Snapshot& snap) {
    auto m = LoadVolumeMap(repo, snap.volumes.at(0));
    EXPECT_TRUE(m.has_value()) << m.error().ToString();
    return m.value_or(std::vector<repo::Extent>{});
  }

  static BackupSource Incremental(const std::string& path, const repo::Snapshot& parent,
                                  cbt::ExtentList changes, const std::string& cbt = "list:test") {
    BackupSource s(path, "v");
    IncrementalSource inc;
    inc.parent = parent;
    inc.parent_volume = "v";
    inc.changes.ranges = std::move(changes);
    inc.cbt = cbt;
    s.incremental = std::move(inc);
    return s;
  }
};

TEST_F(IncrementalTest, MapEqualsAFullBackupOfTheNewVolumeForManySeedsAndBothChunkers) {
  const chunker::Params cdc{chunker::Algorithm::kFastCdc2020, 2048, 8192, 32768, 1, 0};
  const chunker::Params fixed{chunker::Algorithm::kFixed, 2048, 8192, 32768, 1, 0};
  int incrementals = 0;
  // Heavy random edits of small volumes: an incremental may read more than a full backup now
  // and then (a re-chunk that resynchronises late), but far less over all of them.
  uint64_t inc_read = 0, full_read = 0;
  for (const chunker::Params& params : {cdc, fixed}) {
    fs::remove_all(dir_.path() / "repo");
    auto repo = InitRepoWith(false, params);
    for (uint64_t seed = 1; seed <= 25; ++seed) {
      SCOPED_TRACE(::testing::Message()
                   << chunker::AlgorithmName(params.algorithm) << " seed " << seed);
      std::mt19937_64 rng(seed);
      const std::string vol = (dir_.path() / "vol.img").string();
      MakeRandomVolume(vol, (512 << 10) + rng() % (2 << 20), rng);
      auto parent = Run(*repo, {{vol, "v"}});
      ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
      // Two generations of changes: the second incremental's parent is itself incremental.
      repo::Snapshot base = parent->snapshot;
      for (int generation = 0; generation < 2; ++generation) {
        const cbt::ExtentList changed = Mutate(vol, rng);
        auto inc = Run(*repo, {Incremental(vol, base, changed)});
        ASSERT_TRUE(inc.has_value()) << inc.error().ToString();
        auto full = Run(*repo, {{vol, "v"}});
        ASSERT_TRUE(full.has_value());
        ASSERT_EQ(MapOf(*repo, inc->snapshot), MapOf(*repo, full->snapshot))
            << "generation " << generation;
        // Without change tracking (block hashes against the parent's), the same map again.
        BackupSource hashed = Incremental(vol, base, {}, "hash");
        hashed.incremental->hash_diff = true;
        auto by_hash = Run(*repo, {hashed});
        ASSERT_TRUE(by_hash.has_value()) << by_hash.error().ToString();
        ASSERT_EQ(MapOf(*repo, by_hash->snapshot), MapOf(*repo, full->snapshot));
        EXPECT_TRUE(by_hash->warnings.empty());
        // Block hashes kept by each kind of backup agree (the CBT one updates the parent's).
        const auto full_hashes = LoadBlockHashes(*repo, full->snapshot.volumes[0]).value();
        EXPECT_EQ(full_hashes.size(), (full->snapshot.volumes[0].size + 65535) / 65536);
        EXPECT_EQ(LoadBlockHashes(*repo, inc->snapshot.volumes[0]).value(), full_hashes);
        EXPECT_EQ(LoadBlockHashes(*repo, by_hash->snapshot.volumes[0]).value(), full_hashes);
        inc_read += inc->snapshot.stats.bytes_read;
        full_read += full->snapshot.stats.bytes_read;
        ASSERT_TRUE(inc->snapshot.volumes[0].incremental.has_value());
        EXPECT_EQ(inc->snapshot.volumes[0].incremental->changed_bytes, cbt::TotalBytes(changed));
        EXPECT_EQ(inc->snapshot.parent, base.id);
        ExpectRestores(*repo, inc->snapshot, "v", vol);
        base = inc->snapshot;
        ++incrementals;
      }
    }
  }
  EXPECT_EQ(incrementals, 100);
  EXPECT_LT(inc_read, full_read / 2);
}

TEST_F(IncrementalTest, ReadsOnlyAroundTheChangesAndStoresLittle) {
  auto repo = InitRepo(false);
  const std::string vol = (dir_.path() / "vol.img").string();
  { std::ofstream(vol, std::ios::binary) << testing::RandomBytes(16 << 20, 5); }
  auto parent = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(parent.has_value());
  const int fd = ::open(vol.c_str(), O_RDWR);
  WriteAt(fd, 3'000'000, "one small change");
  WriteAt(fd, 11'000'000, "and another");
  ::close(fd);
  auto inc = Run(*repo, {Incremental(vol, parent->snapshot, {{3'000'000, 16}, {11'000'000, 11}})});
  ASSERT_TRUE(inc.has_value()) << inc.error().ToString();
  // Each change re-reads about a chunk or two (≤ 256 KiB each) around it, not the volume.
  EXPECT_LT(inc->snapshot.stats.bytes_read, 2u << 20);
  EXPECT_LT(inc->snapshot.stats.bytes_new, 1200u << 10);
  ExpectRestores(*repo, inc->snapshot, "v", vol);
}

// Over a network each page is a round trip: an incremental reads its parent's map and block
// hashes at once, not one after the other.
TEST_F(IncrementalTest, TheParentsMapAndBlockHashesAreReadAtOnce) {
  auto repo = InitRepo(false);
  const std::string vol = (dir_.path() / "vol.img").string();
  { std::ofstream(vol, std::ios::binary) << testing::RandomBytes(4 << 20, 6); }
  auto parent = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(parent.has_value()) << parent.error().ToString();
  ASSERT_EQ(parent->snapshot.volumes.at(0).pages.size(), 1u);
  ASSERT_EQ(parent->snapshot.volumes.at(0).hash_pages.size(), 1u);
  const int fd = ::open(vol.c_str(), O_RDWR);
  WriteAt(fd, 1'000'000, "a change");
  ::close(fd);

  auto hooked = std::make_unique<testing::HookedTransport>(
      LocalTransport::Open((dir_.path() / "repo").string()).value());
  testing::HookedTransport* transport = hooked.get();
  auto reopened = Repository::Open(std::move(hooked), "pw");
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  transport->around_read = [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  auto inc = Run(**reopened, {Incremental(vol, parent->snapshot, {{1'000'000, 8}})});
  ASSERT_TRUE(inc.has_value()) << inc.error().ToString();
  EXPECT_GE(transport->most_reads_in_flight.load(), 2) << "the map page, then the hash page";
  transport->around_read = nullptr;
  ExpectRestores(**reopened, inc->snapshot, "v", vol);
}

// New data of a backup with a parent is stored at the repository's incremental level (1 unless
// init says otherwise), a full backup's at its main level (3), and a level the backup asks for
// wins over both.
TEST_F(IncrementalTest, AnIncrementalStoresAtTheRepositorysIncrementalLevel) {
  const std::string vol = (dir_.path() / "text.img").string();
  struct Stored {
    uint64_t full = 0;
    uint64_t incremental = 0;
  };
  auto run = [&](std::optional<int> repo_level, std::optional<int> backup_level) {
    SCOPED_TRACE(::testing::Message() << "repository " << repo_level.value_or(-1) << ", backup "
                                      << backup_level.value_or(-1));
    Stored stored;
    fs::remove_all(dir_.path() / "repo");
    testing::WriteFileOrDie(vol, testing::PseudoText(3'000'000, 41));
    InitOptions o = TestInitOptions();
    o.incremental_compression_level = repo_level;
    auto repo = InitRepoWithOptions(o);
    auto full = Run(*repo, {{vol, "v"}});
    EXPECT_TRUE(full.has_value()) << full.error().ToString();
    if (!full) return stored;
    const int fd = ::open(vol.c_str(), O_RDWR);
    WriteAt(fd, 1'000'000, testing::PseudoText(1'000'000, 42));
    ::close(fd);
    BackupOptions bo;
    bo.compression_level = backup_level;
    auto inc = Run(*repo, {Incremental(vol, full->snapshot, {{1'000'000, 1'000'000}})}, bo);
    EXPECT_TRUE(inc.has_value()) << inc.error().ToString();
    if (!inc) return stored;
    ExpectRestores(*repo, inc->snapshot, "v", vol);
    stored = {full->snapshot.stats.bytes_stored, inc->snapshot.stats.bytes_stored};
    return stored;
  };
  const Stored by_default = run(std::nullopt, std::nullopt);
  const Stored repo_at_3 = run(3, std::nullopt);
  const Stored asked_3 = run(std::nullopt, 3);
  const Stored asked_1 = run(3, 1);
  // Metadata with random ids compresses a few bytes either way.
  const auto near = [](uint64_t a, uint64_t b) { return a + 1000 > b && b + 1000 > a; };
  EXPECT_TRUE(near(by_default.full, repo_at_3.full)) << by_default.full << " " << repo_at_3.full;
  // Level 1 stores this text about 7% larger than level 3.
  EXPECT_GT(by_default.incremental, repo_at_3.incremental + 10'000);
  EXPECT_TRUE(near(asked_3.incremental, repo_at_3.incremental))
      << asked_3.incremental << " " << repo_at_3.incremental;
  EXPECT_TRUE(near(asked_1.incremental, by_default.incremental))
      << asked_1.incremental << " " << by_default.incremental;

  // What init writes: 1 by default, 0 for an uncompressed repository, else as asked; a level
  // zstd does not have is refused before anything is written.
  const auto incremental_level = [&](InitOptions o) {
    fs::remove_all(dir_.path() / "repo");
    auto repo = InitRepoWithOptions(o);
    return Reopen()->config().IncrementalCompressionLevel();
  };
  InitOptions o = TestInitOptions();
  EXPECT_EQ(incremental_level(o), 1);
  o.compression_level = 0;
  EXPECT_EQ(incremental_level(o), 0);
  o.incremental_compression_level = 7;
  EXPECT_EQ(incremental_level(o), 7);
  o.incremental_compression_level = 20;
  fs::remove_all(dir_.path() / "repo");
  fs::create_directories(dir_.path() / "repo");
  auto refused = Repository::Init(LocalTransport::Open((dir_.path() / "repo").string()).value(), o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message(),
            "incremental compression level 20 is out of range: 0 (store uncompressed) to 19");
  EXPECT_TRUE(fs::is_empty(dir_.path() / "repo"));
}

TEST_F(IncrementalTest, ABadChangeSourceIsRejectedBeforeAnythingIsWritten) {
  auto repo = InitRepo(false);
  const std::string vol = MakeVolume("vol.img", 7);
  auto parent = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(parent.has_value());
  const size_t objects = repo->transport().List("data").value().size();

  auto past = Run(*repo, {Incremental(vol, parent->snapshot, {{6 << 20, 1 << 20}})});
  ASSERT_FALSE(past.has_value());
  EXPECT_NE(past.error().message().find("reaches past the volume's end"), std::string::npos);

  BackupSource other = Incremental(vol, parent->snapshot, {{0, 4096}}, "csi:delta.json");
  other.incremental->changes.volume_size = 1 << 30;
  auto wrong_volume = Run(*repo, {other});
  ASSERT_FALSE(wrong_volume.has_value());
  EXPECT_NE(wrong_volume.error().message().find("csi:delta.json describes a volume of 1073741824"),
            std::string::npos)
      << wrong_volume.error().message();

  BackupSource no_parent = Incremental(vol, parent->snapshot, {});
  no_parent.incremental->parent_volume = "nope";
  auto missing = Run(*repo, {no_parent});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("has no volume 'nope'"), std::string::npos);

  EXPECT_EQ(repo->transport().List("data").value().size(), objects);
  EXPECT_EQ(repo->ListSnapshots().value().size(), 1u);
}

TEST_F(IncrementalTest, VerifyCatchesAChangeSourceThatMissedAChangeAndReadsInFull) {
  auto repo = InitRepo(false);
  const std::string vol = (dir_.path() / "vol.img").string();
  { std::ofstream(vol, std::ios::binary) << testing::RandomBytes(4 << 20, 9); }
  auto parent = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(parent.has_value());
  // Change every 64 KiB, but tell the backup nothing changed.
  const int fd = ::open(vol.c_str(), O_RDWR);
  for (uint64_t at = 0; at < (4 << 20); at += 64 << 10) WriteAt(fd, at, "x");
  ::close(fd);

  BackupOptions trusting;
  auto blind = Run(*repo, {Incremental(vol, parent->snapshot, {})}, trusting);
  ASSERT_TRUE(blind.has_value());
  EXPECT_EQ(blind->snapshot.stats.bytes_read, 0u);  // Without a check, the CBT is believed.

  BackupOptions verify;
  verify.cbt_verify_percent = 10;
  auto checked = Run(*repo, {Incremental(vol, parent->snapshot, {})}, verify);
  ASSERT_TRUE(checked.has_value()) << checked.error().ToString();
  const auto& info = checked->snapshot.volumes[0].incremental;
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->fell_back);
  EXPECT_GT(info->mismatches, 0u);
  EXPECT_GT(info->verified_bytes, 0u);
  ASSERT_EQ(checked->warnings.size(), 1u);
  EXPECT_NE(checked->warnings[0].find("the change source list:test is wrong"), std::string::npos);
  ExpectRestores(*repo, checked->snapshot, "v", vol);

  // A truthful change source passes the same check.
  auto fine = Run(*repo, {Incremental(vol, checked->snapshot, {})}, verify);
  ASSERT_TRUE(fine.has_value());
  EXPECT_FALSE(fine->snapshot.volumes[0].incremental->fell_back);
  EXPECT_TRUE(fine->warnings.empty());
}

TEST_F(IncrementalTest, AHashDiffFromAParentWithoutBlockHashesReadsInFullAndKeepsHashes) {
  auto repo = InitRepo(false);
  const std::string vol = MakeVolume("vol.img", 31);
  auto full = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(full.has_value());
  // The same snapshot as a writer without block hashes would have stored it.
  repo::Snapshot bare = full->snapshot;
  bare.id = repo::NewObjectId().value();
  bare.volumes[0].hash_block_size = 0;
  bare.volumes[0].hash_pages.clear();
  auto sealer = repo->NewSealer().value();
  const std::string sealed = repo::EncodeSnapshot(*sealer, bare).value();
  ASSERT_TRUE(repo->transport().Put("snapshots/" + bare.id.ToHex(), AsBytes(sealed), true).ok());

  BackupSource hashed = Incremental(vol, bare, {}, "hash");
  hashed.incremental->hash_diff = true;
  auto r = Run(*repo, {hashed});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("has no block hashes to compare with"), std::string::npos);
  // Read in full, and the hashes the next hash diff needs are kept.
  EXPECT_EQ(LoadBlockHashes(*repo, r->snapshot.volumes[0]).value(),
            LoadBlockHashes(*repo, full->snapshot.volumes[0]).value());
  EXPECT_EQ(MapOf(*repo, r->snapshot), MapOf(*repo, full->snapshot));
}

TEST(SeenBlockHashesTest, OnlyBlocksFedWholeAcrossContiguousCallsAreKept) {
  const std::string data = testing::RandomBytes(10000, 4);
  auto bytes = [&](size_t at, size_t n) { return AsBytes(std::string_view(data).substr(at, n)); };
  SeenBlockHashes seen(4096, data.size());
  seen.Feed(0, bytes(0, 3000));
  seen.Feed(3000, bytes(3000, 2000));  // Completes block 0.
  seen.Feed(6000, bytes(6000, 4000));  // A gap at 5000: block 1 is not whole; block 2 (short) is.
  EXPECT_EQ(seen.Find(0), BlockHasher::HashBlock(bytes(0, 4096)));
  EXPECT_FALSE(seen.Find(1).has_value());
  EXPECT_EQ(seen.Find(2), BlockHasher::HashBlock(bytes(8192, 10000 - 8192)));
}

TEST(BlockHasherTest, SkippedBytesHashAsZerosAndAnySplitGivesTheSameHashes) {
  const uint32_t block = 4096;
  std::string volume = testing::RandomBytes(6 * block + 123, 3);
  std::fill(volume.begin() + 5000, volume.begin() + 14000, '\0');  // Zeros the hasher skips.
  std::vector<uint64_t> expected;
  for (size_t at = 0; at < volume.size(); at += block) {
    expected.push_back(BlockHasher::HashBlock(AsBytes(std::string_view(volume).substr(at, block))));
  }
  BlockHasher split(block);
  split.Feed(0, AsBytes(std::string_view(volume).substr(0, 5000)));
  split.Feed(14000, AsBytes(std::string_view(volume).substr(14000, 7)));
  split.Feed(14007, AsBytes(std::string_view(volume).substr(14007, 8000)));
  split.Feed(22007, AsBytes(std::string_view(volume).substr(22007)));
  EXPECT_EQ(split.Finish(volume.size()), expected);
  // A volume that ends in a hole: the short last block hashes as zeros.
  BlockHasher holes(block);
  holes.Feed(0, AsBytes(std::string_view(volume).substr(0, 100)));
  auto h = holes.Finish(2 * block + 10);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[1], BlockHasher::HashBlock(AsBytes(std::string(block, '\0'))));
  EXPECT_EQ(h[2], BlockHasher::HashBlock(AsBytes(std::string(10, '\0'))));
}

}  // namespace
}  // namespace ferry
