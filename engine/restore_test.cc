// Restore through windows: any window size, chunks straddling windows, and delta restores that
// rewrite only what differs.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/stat.h>

#include "engine/hooked_transport.h"
#include "engine/repo_fixture.h"
#include "engine/window_writer.h"
#include "formats/qcow2/image.h"
#include "formats/repo/pack.h"
#include "formats/repo/sealer.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

class RestoreTest : public testing::RepoFixture {
 protected:
  // Writes `data` at `offset` of `path` in place.
  static void Overwrite(const std::string& path, uint64_t offset, const std::string& data) {
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(data.size()));
    ::close(fd);
  }

  std::string OutPath() const { return (dir_.path() / "out.img").string(); }

  // Restores volume "v" of `snapshot` over OutPath() in windows of `window` bytes.
  Result<RestoreResult> RestoreOut(Repository& repo, const repo::Snapshot& snapshot, size_t window,
                                   unsigned threads = 0) {
    RestoreOptions o;
    o.overwrite = true;
    o.window = window;
    o.threads = threads;
    return Restore(repo, snapshot, "v", OutPath(), o);
  }

  static uint64_t AllocatedBytes(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }
};

TEST_F(RestoreTest, AnyWindowSizeAndThreadCountRestoresExactlyAndKeepsHoles) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 21);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  const std::string original = testing::ReadFileOrDie(vol);
  // 4 KiB windows put a window boundary inside nearly every chunk.
  for (size_t window : {size_t{4096}, size_t{12288}, size_t{65536}, size_t{4} << 20}) {
    for (unsigned threads : {1u, 3u}) {
      auto r = RestoreOut(*repo, backup->snapshot, window, threads);
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      ASSERT_EQ(testing::ReadFileOrDie(OutPath()), original) << window << " " << threads;
      EXPECT_LT(AllocatedBytes(OutPath()), 4u << 20) << "holes were filled";
      EXPECT_FALSE(r->io_backend.empty());
    }
  }
  RestoreOptions bad;
  bad.window = 5000;
  auto r = Restore(*repo, backup->snapshot, "v", (dir_.path() / "x").string(), bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("multiple of 4096"), std::string::npos);
}

TEST(RestoreShapeTest, RemoteTransportsGetLargerWindowsAndFewerWorkersWithinTheSameMemory) {
  const TransportCapabilities local{.atomic_rename = true, .parallelism = 2};
  const TransportCapabilities nfs{.atomic_rename = true, .parallelism = 4};
  const TransportCapabilities s3{.parallelism = 16, .efficient_read = 16u << 20};
  const RestoreOptions defaults;
  const RestoreShape l = ShapeRestore(defaults, local, 2);
  EXPECT_EQ(l.window, 4u << 20);
  EXPECT_EQ(l.max_read, 8u << 20);
  EXPECT_EQ(l.threads, 2u);
  EXPECT_EQ(l.buffers, 6u);
  const RestoreShape n = ShapeRestore(defaults, nfs, 2);
  EXPECT_EQ(n.window, 4u << 20);
  EXPECT_EQ(n.threads, 4u);
  EXPECT_EQ(n.buffers, 10u);
  // 16 MiB windows (a quarter of the requests), four workers (64 MiB of windows in flight),
  // and no more buffers than 96 MiB holds beyond one a worker and two being written.
  const RestoreShape r = ShapeRestore(defaults, s3, 2);
  EXPECT_EQ(r.window, 16u << 20);
  EXPECT_EQ(r.max_read, 32u << 20);
  EXPECT_EQ(r.threads, 4u);
  EXPECT_EQ(r.buffers, 6u);
  EXPECT_EQ(ShapeRestore(defaults, s3, 16).threads, 16u) << "never fewer workers than cores";
  // What the caller sets wins.
  RestoreOptions set;
  set.window = 1u << 20;
  set.threads = 3;
  set.max_read = 4u << 20;
  const RestoreShape c = ShapeRestore(set, s3, 2);
  EXPECT_EQ(c.window, 1u << 20);
  EXPECT_EQ(c.max_read, 4u << 20);
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.buffers, 8u);
}

TEST_F(RestoreTest, LargerWindowsReadPacksInFewerRequests) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 23);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  const std::string original = testing::ReadFileOrDie(vol);
  uint64_t reads[2] = {};
  const size_t windows[2] = {size_t{64} << 10, size_t{4} << 20};
  for (int i = 0; i < 2; ++i) {
    auto r = RestoreOut(*repo, backup->snapshot, windows[i]);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ASSERT_EQ(testing::ReadFileOrDie(OutPath()), original);
    EXPECT_EQ(r->shape.window, windows[i]);
    reads[i] = r->pack_reads;
  }
  EXPECT_GT(reads[1], 0u);
  EXPECT_GE(reads[0], 4 * reads[1]) << reads[0] << " reads at 64 KiB, " << reads[1] << " at 4 MiB";
}

TEST(CutWindowsAtChunksTest, WindowsEndWhereChunksEndAndOnBlocksElsewhere) {
  using repo::Extent;
  using repo::ExtentKind;
  auto chunk = [](uint64_t offset, uint32_t length) {
    return Extent{offset, length, ExtentKind::kChunk, {}};
  };
  const std::vector<Extent> extents = {
      chunk(0, 10'000),
      {10'000, 40'000, ExtentKind::kZeros, {}},
      chunk(50'000, 20'000),    // Straddles 64 KiB: the first window ends before it.
      chunk(70'000, 130'000),   // Longer than a window: cut on blocks, decoded for each.
      chunk(200'000, 10'000)};  // Straddles the fourth window's block boundary.
  EXPECT_EQ(CutWindowsAtChunks(extents, 210'000, 64 << 10),
            (std::vector<uint64_t>{0, 50'000, 70'000, 135'168, 200'000, 210'000}));
  // Only zeros and holes: every window is full and ends on a block.
  const std::vector<Extent> empty = {{0, 300'000, ExtentKind::kHole, {}}};
  EXPECT_EQ(CutWindowsAtChunks(empty, 300'000, 128 << 10),
            (std::vector<uint64_t>{0, 131'072, 262'144, 300'000}));
}

// Windows end where chunks end: a chunk is fetched and decoded once, not once for each window it
// would straddle — whether the windows make a new file or rewrite an existing one in place (a
// block shared by two windows is written by each, its own bytes only, through the page cache).
TEST_F(RestoreTest, EveryChunkIsDecodedOnceAndBlocksSharedByWindowsComeOutWhole) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 24);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  const std::string original = testing::ReadFileOrDie(vol);
  auto extents = LoadVolumeMap(*repo, backup->snapshot.volumes[0]);
  ASSERT_TRUE(extents.has_value());
  uint64_t chunk_extents = 0;
  for (const repo::Extent& e : *extents) chunk_extents += e.kind == repo::ExtentKind::kChunk;
  const size_t window = 512 << 10;  // Twice the largest chunk, a tenth of the volume.
  const std::vector<uint64_t> bounds = CutWindowsAtChunks(*extents, original.size(), window);
  const bool shares_a_block = std::any_of(bounds.begin(), bounds.end() - 1,
                                          [](uint64_t b) { return b % WindowWriter::kBlock != 0; });
  ASSERT_TRUE(shares_a_block) << "the test needs windows that share a block";
  for (unsigned threads : {1u, 3u}) {
    auto r = RestoreOut(*repo, backup->snapshot, window, threads);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    ASSERT_TRUE(testing::ReadFileOrDie(OutPath()) == original) << threads << " threads";
    EXPECT_EQ(r->chunks, chunk_extents) << threads << " threads";
  }
  // In place, on a target that differs in every block: each window's bytes of a shared block
  // are compared and rewritten without touching its neighbour's.
  const std::string target = OutPath();
  {
    std::ofstream f(target, std::ios::binary | std::ios::trunc);
    const std::string noise = testing::RandomBytes(original.size(), 99);
    f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  RestoreOptions o;
  o.delta = true;
  o.window = window;
  o.threads = 3;
  auto r = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(testing::ReadFileOrDie(target) == original) << "the delta restore differs";
  EXPECT_EQ(r->chunks, chunk_extents);
}

// A blob that opens cleanly (its seal is intact) but holds other bytes than its chunk id names:
// only the id check can catch it, whether the chunk is verified with the rest of its window or
// alone because it straddles windows.
TEST_F(RestoreTest, AChunkWhoseContentDoesNotMatchItsIdFailsTheRestoreNamingIt) {
  auto repo = InitRepo(/*encrypted=*/false);
  const std::string vol = MakeVolume("vol.img", 22);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  // Reseal a stored-raw chunk (random data) with one byte changed, in place in its pack.
  auto sealer = repo::Sealer::Create({}).value();
  std::string forged_pack;
  for (const auto& [id, loc] : repo->index()) {
    const std::string pack = (dir_.path() / "repo" / repo::PackName(loc.pack)).string();
    std::string bytes = testing::ReadFileOrDie(pack);
    std::string plain;
    const std::string aad = repo::ChunkAad(id.view());
    ASSERT_TRUE(sealer
                    ->Open(AsBytes(aad), AsBytes(bytes).subspan(loc.offset, loc.stored_size),
                           &plain, "blob")
                    .ok());
    if (plain[0] != 0) continue;  // Compressed: a changed byte could fail decompression first.
    plain[plain.size() / 2] ^= 1;
    std::string resealed;
    ASSERT_TRUE(sealer->Seal(AsBytes(aad), AsBytes(plain), &resealed).ok());
    ASSERT_EQ(resealed.size(), loc.stored_size);
    Overwrite(pack, loc.offset, resealed);
    forged_pack = repo::PackName(loc.pack);
    break;
  }
  ASSERT_FALSE(forged_pack.empty()) << "no chunk was stored raw";
  auto reopened = Reopen();
  for (size_t window : {size_t{4} << 20, size_t{4096}}) {
    RestoreOptions o;
    o.overwrite = true;
    o.window = window;
    auto r = Restore(*reopened, backup->snapshot, "v", (dir_.path() / "out.img").string(), o);
    ASSERT_FALSE(r.has_value()) << "window " << window;
    EXPECT_EQ(r.error().code(), Status::Code::kCorruption);
    EXPECT_NE(r.error().message().find("content does not match its id"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find(forged_pack), std::string::npos) << r.error().message();
  }
}

// A restore that cannot finish never leaves a partial volume under the name asked for as if it
// were whole: a file it created goes, and one it replaced or rolled back in part is named.
TEST_F(RestoreTest, AnUnfinishedRestoreRemovesTheFileItCreatedAndNamesOneItChanged) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 23);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  CancelToken cancel;
  cancel.Cancel();  // Seen by the first window, after the target is open.
  struct Case {
    bool exists;
    bool overwrite;
    bool delta;
    std::string note;
  };
  for (const Case& c : {Case{false, false, false, "; removed the unfinished " + OutPath()},
                        Case{true, true, false, "; " + OutPath() + " is left unfinished"},
                        Case{true, false, true, "; " + OutPath() + " is partly rolled back"},
                        Case{true, false, false, ""}}) {
    SCOPED_TRACE(c.note);
    std::filesystem::remove(OutPath());
    if (c.exists) testing::WriteFileOrDie(OutPath(), "old");
    RestoreOptions o;
    o.cancel = &cancel;
    o.overwrite = c.overwrite;
    o.delta = c.delta;
    auto r = Restore(*repo, backup->snapshot, "v", OutPath(), o);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(std::filesystem::exists(OutPath()), c.exists);
    if (c.note.empty()) {  // Refused before the target was touched: nothing to say about it.
      EXPECT_EQ(r.error().code(), Status::Code::kAlreadyExists) << r.error().ToString();
      EXPECT_EQ(testing::ReadFileOrDie(OutPath()), "old");
      continue;
    }
    EXPECT_TRUE(r.error().IsCancelled()) << r.error().ToString();
    EXPECT_NE(r.error().message().find(c.note), std::string::npos) << r.error().ToString();
  }
}

TEST_F(RestoreTest, DeltaRestoreRollsBackAChangedVolumeWritingOnlyWhatDiffers) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 22);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value());
  const std::string original = testing::ReadFileOrDie(vol);

  // The volume lives on: small writes in data, in a zero run, in a hole; then a rollback.
  const std::string target = (dir_.path() / "live.img").string();
  fs::copy_file(vol, target);
  const std::vector<uint64_t> edits = {100'000, 1'600'000, 3'500'000, 5'000'000};
  for (uint64_t at : edits) Overwrite(target, at, testing::RandomBytes(3000, at));

  RestoreOptions o;
  o.delta = true;
  o.window = 64 << 10;
  auto r = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(target), original);
  // Each edit touches at most two chunks (≤ 256 KiB each) or zeros: far less than the volume.
  EXPECT_GT(r->bytes_written, 4u * 3000);
  EXPECT_LE(r->bytes_written, edits.size() * 2 * (256u << 10) + 8192);
  // A chunk spanning windows is fetched once per window it touches (≤ 5 of 64 KiB).
  EXPECT_LE(r->chunks, edits.size() * 2 * 5);
  EXPECT_LE(r->bytes_compared, backup->snapshot.volumes[0].size);

  // Restoring onto an identical target writes nothing.
  auto again = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->bytes_written, 0u);
  EXPECT_EQ(again->chunks, 0u);
}

// Where the target file has a hole and the snapshot no data, both read zeros: a delta restore
// reads neither, yet fills a hole where the snapshot has data.
TEST_F(RestoreTest, DeltaRestoreSkipsWhatNeitherTheSparseTargetNorTheSnapshotHolds) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 25);  // Data below 4 MiB; a hole from there.
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value());
  const std::string original = testing::ReadFileOrDie(vol);
  // A sparse target: only the first MiB of the volume, and a stray block in its last hole.
  const std::string target = (dir_.path() / "sparse.img").string();
  {
    std::ofstream out(target, std::ios::binary);
    out << original.substr(0, 1 << 20);
  }
  fs::resize_file(target, original.size());
  Overwrite(target, 5 << 20, "stray");

  RestoreOptions o;
  o.delta = true;
  o.window = 64 << 10;
  auto r = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(target), original);
  EXPECT_LT(r->bytes_compared, 5u << 20) << "the holes of both were read";
  EXPECT_GT(r->bytes_written, 1u << 20) << "the snapshot's data over the target's holes";
}

TEST_F(RestoreTest, DeltaRestoreWithTheTargetsChangesReadsOnlyThoseWindows) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 23);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value());
  const std::string target = (dir_.path() / "live.img").string();
  fs::copy_file(vol, target);
  Overwrite(target, 200'000, testing::RandomBytes(5000, 1));
  Overwrite(target, 3'300'000, testing::RandomBytes(5000, 2));

  RestoreOptions o;
  o.delta = true;
  o.window = 64 << 10;
  o.target_changes = cbt::ExtentList{{196'608, 16384}, {3'293'184, 16384}};
  auto r = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(target), testing::ReadFileOrDie(vol));
  EXPECT_LE(r->bytes_compared, 4u * (64 << 10));  // At most two windows per change.
  EXPECT_GT(r->bytes_compared, 0u);
}

TEST_F(RestoreTest, DeltaRestoreResizesTheTargetAndNeedsOne) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 24);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value());
  const std::string target = (dir_.path() / "live.img").string();
  RestoreOptions o;
  o.delta = true;
  auto missing = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().IsNotFound()) << missing.error().ToString();

  for (uint64_t size : {uint64_t{1} << 20, uint64_t{9} << 20}) {
    fs::copy_file(vol, target, fs::copy_options::overwrite_existing);
    fs::resize_file(target, size);
    Overwrite(target, size - 100, "tail");
    auto r = Restore(*repo, backup->snapshot, "v", target, o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(testing::ReadFileOrDie(target), testing::ReadFileOrDie(vol)) << size;
  }
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

// Restores as QCOW2 (standalone, compressed, an overlay), read back with ferry's own QCOW2
// reader; many threads and small windows so the placer's parallel half is exercised (this test
// also runs under TSan). The CLI test judges the same images with qemu-img.
TEST_F(RestoreTest, Qcow2ImagesReadBackAsTheVolume) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 31);
  auto first = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  const std::string original = testing::ReadFileOrDie(vol);
  auto read_image = [](const std::string& path) {
    auto image = qcow2::OpenImage(path);
    EXPECT_TRUE(image.has_value()) << image.error().ToString();
    std::string out((*image)->size(), '\0');
    EXPECT_TRUE((*image)->Read(AsWritableBytes(out), 0).ok());
    return out;
  };
  const std::string base = (dir_.path() / "base.qcow2").string();
  for (auto compression : {std::optional<qcow2::Compression>(),
                           std::optional<qcow2::Compression>(qcow2::Compression::kZstd),
                           std::optional<qcow2::Compression>(qcow2::Compression::kZlib)}) {
    RestoreOptions o;
    o.overwrite = true;
    o.threads = 4;
    o.window = 1 << 20;
    o.qcow2 = Qcow2ExportOptions{};
    o.qcow2->compression = compression;
    o.qcow2->cluster_bits = 15;
    auto r = Restore(*repo, first->snapshot, "v", base, o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_TRUE(read_image(base) == original) << "compression " << compression.has_value();
    EXPECT_GT(r->clusters, 0u);
  }

  // The next state: a change, a zeroed stretch that hid data, growth.
  Overwrite(vol, 100'000, testing::RandomBytes(50'000, 5));
  Overwrite(vol, 1'000'000, std::string(200'000, '\0'));
  Overwrite(vol, (6 << 20) + 12345, testing::RandomBytes(70'000, 6));
  auto second = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(second.has_value());
  RestoreOptions o;
  o.threads = 3;
  o.qcow2 = Qcow2ExportOptions{};
  o.qcow2->backing = "base.qcow2";  // Relative to the target's directory.
  const std::string next = (dir_.path() / "next.qcow2").string();
  auto r = Restore(*repo, second->snapshot, "v", next, o);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(read_image(next) == testing::ReadFileOrDie(vol)) << "overlay reads other bytes";
  EXPECT_LT(r->clusters, 20u) << "the overlay should hold only the changed clusters";

  o.qcow2->backing = "missing.qcow2";
  auto missing = Restore(*repo, second->snapshot, "v", (dir_.path() / "x.qcow2").string(), o);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("missing.qcow2"), std::string::npos);
  o.qcow2->backing.clear();
  o.delta = true;
  auto delta = Restore(*repo, second->snapshot, "v", next, o);
  ASSERT_FALSE(delta.has_value());
  EXPECT_TRUE(delta.error().IsInvalidArgument());
}

// Standard output is a stream: windows that several workers fetch and decode, finishing out of
// order (each read here waits a few milliseconds, more for some), come out whole and in order.
TEST_F(RestoreTest, ToAStreamSeveralWorkersFetchAndWindowsComeOutInOrder) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 31);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  auto hooked = std::make_unique<testing::HookedTransport>(
      LocalTransport::Open((dir_.path() / "repo").string()).value());
  testing::HookedTransport* transport = hooked.get();
  auto reopened = Repository::Open(std::move(hooked), "pw");
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  ASSERT_TRUE((*reopened)->LoadIndex().ok());
  std::atomic<unsigned> reads{0};
  transport->around_read = [&] {
    const unsigned n = reads++;
    std::this_thread::sleep_for(std::chrono::milliseconds(n % 3 == 0 ? 6 : 1));
  };

  // A pipe on standard output (pwrite on it fails: only a stream write works), drained here.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  std::string out;
  std::thread drain([&] {
    char buf[1 << 16];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) {
      out.append(buf, static_cast<size_t>(n));
    }
  });
  const int saved_stdout = ::dup(STDOUT_FILENO);
  ::dup2(pipe_fds[1], STDOUT_FILENO);
  ::close(pipe_fds[1]);
  RestoreOptions o;
  o.window = 64 << 10;  // ~100 windows.
  o.threads = 4;
  auto r = Restore(**reopened, backup->snapshot, "v", "-", o);
  ::dup2(saved_stdout, STDOUT_FILENO);  // Closes the pipe's last write end: the drain ends.
  ::close(saved_stdout);
  drain.join();
  ::close(pipe_fds[0]);

  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(out == testing::ReadFileOrDie(vol))
      << "the volume's bytes, in order (" << out.size() << " bytes came)";
  EXPECT_EQ(r->bytes_written, out.size());
  EXPECT_GE(transport->most_reads_in_flight.load(), 2) << "one read at a time";
}

}  // namespace
}  // namespace ferry
