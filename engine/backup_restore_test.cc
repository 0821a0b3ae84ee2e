// Backup and restore through the library on real files: byte-exact round trips, dedup, faults.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/backup.h"
#include "engine/check.h"
#include "engine/hooked_transport.h"
#include "engine/repo_fixture.h"
#include "engine/restore.h"
#include "formats/repo/pack.h"
#include "tests/testutil/testutil.h"
#include "transports/local/local_transport.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

class BackupRestoreTest : public testing::RepoFixture {};

TEST_F(BackupRestoreTest, RoundTripsEncryptedAndPlainWithEveryChunker) {
  for (bool encrypted : {true, false}) {
    for (auto algo : {chunker::Algorithm::kFastCdc2020, chunker::Algorithm::kFixed}) {
      fs::remove_all(dir_.path() / "repo");
      auto repo = InitRepo(encrypted, algo);
      const std::string vol = MakeVolume("vol.img", 3);
      auto r = Run(*repo, {{vol, "disk0"}});
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      EXPECT_EQ(r->snapshot.volumes.at(0).size, (6u << 20) + 12345);
      // Holes are not read: only ~2.8 MB of the 6 MB volume hold data.
      EXPECT_LT(r->snapshot.stats.bytes_read, 4u << 20);
      auto reopened = Reopen();
      ExpectRestores(*reopened, reopened->ResolveSnapshot("latest").value(), "disk0", vol);
      // The restored file keeps the holes.
      struct stat st {};
      ASSERT_EQ(::stat((dir_.path() / "restored-disk0").c_str(), &st), 0);
      EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 4u << 20);
    }
  }
}

TEST_F(BackupRestoreTest, UnchangedVolumeStoresNothingNewAndEditsStoreLittle) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 5);
  auto first = Run(*repo, {{vol, ""}});
  ASSERT_TRUE(first.has_value());
  auto second = Run(*repo, {{vol, ""}});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->snapshot.stats.bytes_new, 0u);
  EXPECT_EQ(second->snapshot.stats.bytes_stored, 0u);
  {
    std::fstream f(vol, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(700'000);
    f << "an edit in the middle of the random data";
  }
  auto third = Run(*repo, {{vol, ""}});
  ASSERT_TRUE(third.has_value());
  // One or two chunks (≤ 256 KiB each) plus a map page, not the volume.
  EXPECT_LT(third->snapshot.stats.bytes_new, 600u << 10);
  EXPECT_GT(third->snapshot.stats.bytes_new, 0u);
  ExpectRestores(*repo, third->snapshot, "vol.img", vol);
}

TEST_F(BackupRestoreTest, ABackupStoresAtTheCompressionLevelItAsksFor) {
  const std::string vol = (dir_.path() / "text.img").string();
  testing::WriteFileOrDie(vol, testing::PseudoText(2'000'000, 31));
  // Stored bytes per level, each into a fresh repository (whose own level is 3).
  std::map<int, uint64_t> stored;
  for (std::optional<int> level :
       {std::optional<int>(), std::optional<int>(0), std::optional<int>(1), std::optional<int>(3),
        std::optional<int>(19)}) {
    SCOPED_TRACE(level.value_or(-1));
    fs::remove_all(dir_.path() / "repo");
    auto repo = InitRepo();
    BackupOptions o;
    o.compression_level = level;
    auto r = Run(*repo, {{vol, "text"}}, o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    stored[level.value_or(-1)] = r->snapshot.stats.bytes_stored;
    auto reopened = Reopen();
    ExpectRestores(*reopened, r->snapshot, "text", vol);
    CheckOptions c;
    c.read_data = true;
    auto checked = Check(*reopened, c);
    ASSERT_TRUE(checked.has_value()) << checked.error().ToString();
    EXPECT_TRUE(checked->ok()) << (checked->errors.empty() ? "" : checked->errors.front());
  }
  // Unset: the repository's level (metadata with random ids compresses a few bytes either way).
  EXPECT_NEAR(static_cast<double>(stored[-1]), static_cast<double>(stored[3]), 1000);
  EXPECT_GT(stored[0], 2'000'000u);  // Uncompressed (plus sealing and metadata).
  EXPECT_LT(stored[1], stored[0] / 2);
  EXPECT_GT(stored[1], stored[3] + 10'000);   // Here about 7% larger than level 3...
  EXPECT_LT(stored[19], stored[3] - 10'000);  // ...and level 19 about 19% smaller.

  // A level zstd does not have fails before anything is written.
  fs::remove_all(dir_.path() / "repo");
  auto repo = InitRepo();
  BackupOptions o;
  o.compression_level = 20;
  auto r = Run(*repo, {{vol, "text"}}, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsInvalidArgument());
  EXPECT_NE(r.error().message().find("compression level 20"), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(Reopen()->ListSnapshots().value().empty());
  EXPECT_TRUE(!fs::exists(dir_.path() / "repo" / "data") ||
              fs::is_empty(dir_.path() / "repo" / "data"));
}

TEST_F(BackupRestoreTest, SeveralVolumesAndAFifoInOneSnapshot) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 7);
  const std::string b = MakeVolume("b.img", 8);
  const std::string fifo = (dir_.path() / "stream").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const std::string streamed = testing::PseudoText(700'001, 9);
  ::signal(SIGPIPE, SIG_IGN);  // If the backup fails early, fail the assertions, not the process.
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << streamed; });
  auto r = Run(*repo, {{a, "a"}, {b, "b"}, {fifo, "dump"}});
  writer.join();
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_EQ(r->snapshot.volumes.size(), 3u);
  ExpectRestores(*repo, r->snapshot, "a", a);
  ExpectRestores(*repo, r->snapshot, "b", b);
  const std::string dump = (dir_.path() / "dump.txt").string();
  { std::ofstream(dump, std::ios::binary) << streamed; }
  ExpectRestores(*repo, r->snapshot, "dump", dump);
  auto unnamed = Restore(*repo, r->snapshot, "", (dir_.path() / "x").string(), {});
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_NE(unnamed.error().message().find("has 3 volumes (a, b, dump)"), std::string::npos);
}

// Volumes are restored by name: two sources that would share one are refused before anything
// is written, by default name (the file name) and by given name alike.
TEST_F(BackupRestoreTest, TwoSourcesOfOneVolumeNameAreRefusedBeforeAnythingIsWritten) {
  auto repo = InitRepo();
  const std::string a = MakeVolume("a.img", 7);
  fs::create_directory(dir_.path() / "other");
  const std::string same_file_name = (dir_.path() / "other" / "a.img").string();
  fs::copy_file(a, same_file_name);
  const std::string b = MakeVolume("b.img", 8);
  // Every file of the repository: nothing may appear.
  auto files = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path() / "repo")) {
      names.insert(e.path().string());
    }
    return names;
  };
  const std::set<std::string> before = files();
  for (const std::vector<BackupSource>& sources :
       {std::vector<BackupSource>{{a, ""}, {same_file_name, ""}},
        std::vector<BackupSource>{{a, "disk"}, {b, "disk"}}}) {
    auto r = Run(*repo, sources);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Status::Code::kInvalidArgument) << r.error().ToString();
    const std::string volume = sources[0].name.empty() ? "a.img" : "disk";
    EXPECT_NE(r.error().message().find(sources[0].path + " and " + sources[1].path +
                                       " would both be volume '" + volume + "'"),
              std::string::npos)
        << r.error().ToString();
  }
  EXPECT_TRUE(repo->ListSnapshots().value().empty());
  EXPECT_EQ(files(), before);
  auto fine = Run(*repo, {{a, ""}, {same_file_name, "copy"}});
  ASSERT_TRUE(fine.has_value()) << fine.error().ToString();
  ExpectRestores(*repo, fine->snapshot, "copy", a);
}

TEST_F(BackupRestoreTest, CancelledBackupLeavesACheckableRepositoryAndItsUploadsAreReused) {
  auto repo = InitRepo();
  const std::string content = testing::RandomBytes(12 << 20, 11);
  const std::string fifo = (dir_.path() / "slow").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  CancelToken cancel;
  // The cancelled backup closes the FIFO while the writer still writes: let that write fail.
  ::signal(SIGPIPE, SIG_IGN);
  // Feed half, wait until the backup has published an index, cancel, then feed the rest.
  std::thread writer([&] {
    std::ofstream out(fifo, std::ios::binary);
    out.write(content.data(), 6 << 20);
    out.flush();
    // Bounded (30 s) rather than timed: a loaded CI machine may take seconds to publish.
    for (int i = 0; i < 3000 && repo->transport().List("index").value().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    cancel.Cancel();
    out.write(content.data() + (6 << 20), static_cast<std::streamsize>(content.size() - (6 << 20)));
  });
  BackupOptions o;
  o.cancel = &cancel;
  o.index_every_packs = 1;
  auto r = Run(*repo, {{fifo, "big"}}, o);
  writer.join();
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsCancelled()) << r.error().ToString();
  EXPECT_TRUE(repo->transport().List("snapshots").value().empty());
  CheckOptions deep;
  deep.read_data = true;
  auto check = Check(*Reopen(), deep);
  ASSERT_TRUE(check.has_value());
  EXPECT_TRUE(check->ok()) << check->errors.at(0);
  auto again = Reopen();
  ASSERT_GT(again->index_size(), 0u);
  const std::string vol = (dir_.path() / "big.img").string();
  { std::ofstream(vol, std::ios::binary) << content; }
  auto done = Run(*again, {{vol, "big"}});
  ASSERT_TRUE(done.has_value()) << done.error().ToString();
  // What the cancelled run published is not stored again.
  EXPECT_LT(done->snapshot.stats.bytes_new, 11u << 20);
  ExpectRestores(*again, done->snapshot, "big", vol);
}

// A backup that fails (here: the repository's disk fills up) removes the packs it wrote and no
// index names: nobody else can use them, and on a full disk they are the space a prune needs.
TEST_F(BackupRestoreTest, AFailedBackupRemovesThePacksNoIndexNames) {
  auto repo = InitRepo();
  const std::string first_volume = (dir_.path() / "first.img").string();
  testing::WriteFileOrDie(first_volume, testing::RandomBytes(2 << 20, 3));
  auto first = Run(*repo, {{first_volume, "first"}});
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  const auto packs_before = repo->transport().List("data").value();

  auto hooked = std::make_unique<testing::HookedTransport>(
      LocalTransport::Open((dir_.path() / "repo").string()).value());
  testing::HookedTransport* transport = hooked.get();
  auto full = Repository::Open(std::move(hooked), "pw");
  ASSERT_TRUE(full.has_value()) << full.error().ToString();
  std::atomic<int> packs_started{0};
  transport->write_error = [&](std::string_view name) {
    if (name.starts_with("data/") && ++packs_started > 4) {
      return Status::FromErrno(ENOSPC, fmt::format("write {}", name));
    }
    return Status();
  };
  const std::string second_volume = (dir_.path() / "second.img").string();
  testing::WriteFileOrDie(second_volume, testing::RandomBytes(8 << 20, 4));
  BackupOptions o;
  o.index_every_packs = 1000;  // No index before the end: every pack it wrote is unindexed.
  auto second = Run(**full, {{second_volume, "second"}}, o);
  ASSERT_FALSE(second.has_value());
  EXPECT_TRUE(second.error().IsNoSpace()) << second.error().ToString();
  EXPECT_NE(second.error().message().find("that this backup had written and no index names"),
            std::string::npos)
      << second.error().ToString();
  EXPECT_EQ(repo->transport().List("data").value(), packs_before);

  auto reopened = Reopen();
  CheckOptions deep;
  deep.read_data = true;
  auto check = Check(*reopened, deep);
  ASSERT_TRUE(check.has_value());
  EXPECT_TRUE(check->ok()) << check->errors.at(0);
  EXPECT_TRUE(check->warnings.empty()) << check->warnings.at(0);
  ExpectRestores(*reopened, first->snapshot, "first", first_volume);
}

// Files of /proc say they hold 0 bytes; they are read to their end all the same, never backed
// up as empty volumes.
TEST_F(BackupRestoreTest, AFileThatCallsItselfEmptyIsReadToItsEnd) {
  std::ifstream in("/proc/version", std::ios::binary);
  const std::string expected((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  ASSERT_FALSE(expected.empty());
  auto repo = InitRepo();
  auto r = Run(*repo, {{"/proc/version", "version"}});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->snapshot.volumes.at(0).size, expected.size());
  const std::string out = (dir_.path() / "version").string();
  auto restored = Restore(*repo, r->snapshot, "version", out, {});
  ASSERT_TRUE(restored.has_value()) << restored.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(out), expected);
}

TEST_F(BackupRestoreTest, LatestIsTheLastBackupEvenWithinOneSecond) {
  // Regression: times had one-second resolution and ties were broken by random id, so
  // "latest" could name an older snapshot.
  auto repo = InitRepo();
  const std::string vol = (dir_.path() / "v.img").string();
  std::vector<repo::ObjectId> ids;
  for (int i = 0; i < 5; ++i) {
    {
      std::ofstream(vol, std::ios::binary)
          << testing::RandomBytes(100'000, 40u + static_cast<unsigned>(i));
    }
    auto r = Run(*repo, {{vol, ""}});
    ASSERT_TRUE(r.has_value());
    ids.push_back(r->snapshot.id);
    EXPECT_EQ(repo->ResolveSnapshot("latest").value().id, r->snapshot.id) << "backup " << i;
  }
  auto all = repo->ListSnapshots().value();
  ASSERT_EQ(all.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(all[i].id, ids[i]);
}

TEST_F(BackupRestoreTest, WrongPassphraseIsRefused) {
  InitRepo();
  auto r = Repository::Open(LocalTransport::Open((dir_.path() / "repo").string()).value(), "nope");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "wrong passphrase");
}

TEST_F(BackupRestoreTest, SourceThatShrinksDuringTheReadFailsClearly) {
  const std::string vol = (dir_.path() / "shrinks.img").string();
  { std::ofstream(vol, std::ios::binary) << testing::RandomBytes(4 << 20, 1); }
  auto reader = SequentialReader::Open(vol, {.buffers = 2}).value();
  ASSERT_EQ(::truncate(vol.c_str(), 1 << 20), 0);
  Status s;
  for (int i = 0; i < 8 && s.ok(); ++i) {
    auto b = reader->NextBuffer();
    if (!b) {
      s = b.error();
    } else if (b->data.empty()) {
      break;
    }
  }
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the source shrank or vanished during the read"), std::string::npos)
      << s.message();
}

TEST_F(BackupRestoreTest, DamagedPacksAreNamedByRestoreAndCheck) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 13);
  auto r = Run(*repo, {{vol, ""}});
  ASSERT_TRUE(r.has_value());
  auto packs = repo->transport().List("data").value();
  ASSERT_GE(packs.size(), 2u);
  // Flip one bit inside the first blob of one pack, and truncate another.
  const std::string flipped = packs[0], truncated = packs[1];
  {
    std::fstream f(dir_.path() / "repo" / flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c;
    f.get(c);
    f.seekp(40);
    f.put(static_cast<char>(c ^ 0x04));
  }
  fs::resize_file(dir_.path() / "repo" / truncated,
                  fs::file_size(dir_.path() / "repo" / truncated) - 100);

  auto fresh = Reopen();
  auto structure = Check(*fresh, {});
  ASSERT_TRUE(structure.has_value());
  ASSERT_FALSE(structure->ok());
  EXPECT_NE(structure->errors.at(0).find(truncated), std::string::npos) << structure->errors.at(0);
  CheckOptions read_data;
  read_data.read_data = true;
  auto deep = Check(*Reopen(), read_data);
  bool named_flipped = false;
  for (const auto& e : deep->errors) named_flipped |= e.find(flipped) != std::string::npos;
  EXPECT_TRUE(named_flipped);
  auto restore = Restore(*fresh, r->snapshot, "", (dir_.path() / "out").string(), {});
  ASSERT_FALSE(restore.has_value());
  EXPECT_TRUE(restore.error().message().find(flipped) != std::string::npos ||
              restore.error().message().find(truncated) != std::string::npos)
      << restore.error().message();
}

// check --read-data verifies several packs at once: damage in many packs is all found, each
// chunk once, and the pass counts every pack and every intact chunk.
TEST_F(BackupRestoreTest, ReadDataFindsDamageInEveryPackItReads) {
  auto repo = InitRepo();
  auto r = Run(*repo, {{MakeVolume("a.img", 31), "a"}, {MakeVolume("b.img", 32), "b"}});
  ASSERT_TRUE(r.has_value());
  auto packs = repo->transport().List("data").value();
  ASSERT_GE(packs.size(), 4u);
  CheckOptions read_data;
  read_data.read_data = true;
  auto clean = Check(*Reopen(), read_data);
  ASSERT_TRUE(clean.has_value());
  ASSERT_TRUE(clean->ok()) << clean->errors.at(0);
  EXPECT_EQ(clean->packs_read, packs.size());
  // The first blob of every other pack.
  std::set<std::string> damaged;
  for (size_t i = 0; i < packs.size(); i += 2) {
    std::fstream f(dir_.path() / "repo" / packs[i],
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c;
    f.get(c);
    f.seekp(40);
    f.put(static_cast<char>(c ^ 0x10));
    damaged.insert(packs[i]);
  }
  auto deep = Check(*Reopen(), read_data);
  ASSERT_TRUE(deep.has_value());
  EXPECT_EQ(deep->packs_read, packs.size());
  EXPECT_EQ(deep->chunks_verified + deep->damaged.size(), clean->chunks_verified);
  std::set<std::string> named;
  for (const DamagedChunk& d : deep->damaged) named.insert(d.pack);
  EXPECT_EQ(named, damaged);
  EXPECT_EQ(deep->damaged.size(), damaged.size()) << "one damaged chunk a pack";
}

}  // namespace
}  // namespace ferry
