// Restore through windows: any window size, chunks straddling windows, and delta restores that
// rewrite only what differs.
#include <filesystem>
#include <fstream>

#include <sys/stat.h>

#include "engine/repo_fixture.h"

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
      const std::string out = (dir_.path() / "out.img").string();
      RestoreOptions o;
      o.overwrite = true;
      o.window = window;
      o.threads = threads;
      auto r = Restore(*repo, backup->snapshot, "v", out, o);
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
      ASSERT_EQ(testing::ReadFileOrDie(out), original) << window << " " << threads;
      EXPECT_LT(AllocatedBytes(out), 4u << 20) << "holes were filled";
      EXPECT_FALSE(r->io_backend.empty());
    }
  }
  RestoreOptions bad;
  bad.window = 5000;
  auto r = Restore(*repo, backup->snapshot, "v", (dir_.path() / "x").string(), bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("multiple of 4096"), std::string::npos);
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
  EXPECT_EQ(r->bytes_compared, backup->snapshot.volumes[0].size);

  // Restoring onto an identical target writes nothing.
  auto again = Restore(*repo, backup->snapshot, "v", target, o);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->bytes_written, 0u);
  EXPECT_EQ(again->chunks, 0u);
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
