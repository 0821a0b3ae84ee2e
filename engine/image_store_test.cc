// The qcow2 layout's jobs beside each other (engine/layout_lock.h): a forget never runs while a
// backup writes, and a backup waits for a forget to finish.
#include "engine/image_store.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/layout_lock.h"
#include "engine/repo_fixture.h"

namespace ferry {
namespace {

class ImageStoreTest : public testing::RepoFixture {
 protected:
  static std::vector<ImageBackupSource> Volume(const std::string& path) {
    ImageBackupSource s;
    s.path = path;
    s.name = "a";
    return {s};
  }

  std::string LayoutDir() const { return (dir_.path() / "layout").string(); }

  std::unique_ptr<ImageStore> InitStore() {
    auto store = ImageStore::Init(LayoutDir(), {});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    return std::move(*store);
  }

  void ExpectRestores(ImageStore& store, const repo::ObjectId& id, const std::string& original) {
    auto snap = store.ResolveSnapshot(id.ToHex());
    ASSERT_TRUE(snap.has_value()) << snap.error().ToString();
    const std::string out = (dir_.path() / "restored.img").string();
    ImageRestoreOptions o;
    o.overwrite = true;
    auto r = store.Restore(*snap, "", out, o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(testing::ReadFileOrDie(out), testing::ReadFileOrDie(original));
  }

  void ExpectCheckPasses(ImageStore& store) {
    auto r = store.Check(/*read_data=*/true, {});
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_TRUE(r->ok()) << r->errors.front();
  }
};

// A forget started while a backup writes its overlay (here: from the backup's own progress
// report, once the overlay is written and before it is published) would delete the image the
// overlay stands on, or the overlay itself. It is refused instead, and runs afterwards.
TEST_F(ImageStoreTest, AForgetIsRefusedWhileABackupWrites) {
  auto store = InitStore();
  const std::string a = MakeVolume("a.img", 1);
  auto first = store->Backup(Volume(a), {});
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  auto first_snapshot = store->ResolveSnapshot(first->id.ToHex());
  ASSERT_TRUE(first_snapshot.has_value());

  std::optional<Result<ForgetResult>> forget;
  ImageBackupOptions o;
  o.progress = [&](const Progress&) {
    if (forget) return;
    auto elsewhere = ImageStore::Open(LayoutDir());
    ASSERT_TRUE(elsewhere.has_value());
    forget = (*elsewhere)->Forget({*first_snapshot}, "", {});
  };
  const std::string b = MakeVolume("a2.img", 2);
  std::filesystem::rename(b, a);  // The same volume, changed: an overlay of the first image.
  auto second = store->Backup(Volume(a), o);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  ASSERT_TRUE(forget.has_value()) << "the backup reported no progress";
  ASSERT_FALSE(forget->has_value()) << "a forget ran beside a backup";
  EXPECT_EQ(forget->error().code(), Status::Code::kUnavailable);
  EXPECT_NE(forget->error().message().find("in use by another ferry job"), std::string::npos)
      << forget->error().ToString();
  ExpectCheckPasses(*store);
  ExpectRestores(*store, second->id, a);

  // Alone, the same forget merges the first image into the second.
  auto done = store->Forget({*first_snapshot}, "", {});
  ASSERT_TRUE(done.has_value()) << done.error().ToString();
  EXPECT_EQ(done->forgotten.size(), 1u);
  ExpectCheckPasses(*store);
  ExpectRestores(*store, second->id, a);
}

// A backup that finds a forget running waits for it (saying so once), and a cancel ends the
// wait.
TEST_F(ImageStoreTest, ABackupWaitsForAForgetAndCanBeCancelledWhileItWaits) {
  auto store = InitStore();
  const std::string a = MakeVolume("a.img", 3);
  std::optional<LayoutLock> forgetting;
  {
    auto held = LayoutLock::Acquire(LayoutDir(), LayoutLock::Kind::kExclusive, "forget");
    ASSERT_TRUE(held.has_value()) << held.error().ToString();
    forgetting.emplace(std::move(*held));
  }
  std::atomic<int> told{0};
  std::atomic<bool> finished{false};
  std::optional<Result<ImageBackupResult>> backup;
  ImageBackupOptions o;
  o.waiting = [&] { ++told; };
  std::thread job([&] {
    backup = store->Backup(Volume(a), o);
    finished = true;
  });
  while (told == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(finished) << "the backup did not wait for the forget";
  forgetting.reset();
  job.join();
  ASSERT_TRUE(backup.has_value());
  ASSERT_TRUE(backup->has_value()) << backup->error().ToString();
  EXPECT_EQ(told, 1);
  ExpectRestores(*store, (*backup)->id, a);

  auto held = LayoutLock::Acquire(LayoutDir(), LayoutLock::Kind::kExclusive, "forget");
  ASSERT_TRUE(held.has_value());
  CancelToken cancel;
  o.cancel = &cancel;
  o.waiting = [&] { cancel.Cancel(); };
  auto cancelled = store->Backup(Volume(a), o);
  ASSERT_FALSE(cancelled.has_value());
  EXPECT_EQ(cancelled.error().code(), Status::Code::kCancelled) << cancelled.error().ToString();
  EXPECT_EQ(store->ListSnapshots()->size(), 1u);
}

// --cbt-verify: a change source that missed a change is caught by the sample, and the backup
// compares every cluster instead; one that tells the truth passes and is used.
TEST_F(ImageStoreTest, CbtVerifyCatchesAChangeSourceThatMissedAChange) {
  auto store = InitStore();
  const std::string a = MakeVolume("a.img", 4);
  ASSERT_TRUE(store->Backup(Volume(a), {}).has_value());
  // Change 4 KiB in each of 16 places; the change source reports only the first.
  const int fd = ::open(a.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const std::string x(4096, 'x');
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(::pwrite(fd, x.data(), x.size(), static_cast<off_t>(i) * 150'000), 4096);
  }
  ::close(fd);
  auto lying = Volume(a);
  lying[0].changes = cbt::ChangedBlocks{{{0, 4096}}, std::nullopt, ""};
  lying[0].cbt = "list:test";

  auto believed = store->Backup(lying, {});  // Without a sample the change source is believed.
  ASSERT_TRUE(believed.has_value()) << believed.error().ToString();
  EXPECT_EQ(believed->volumes[0].stats.bytes_read, 64u << 10);

  ImageBackupOptions o;
  o.cbt_verify_percent =
      100;  // Every candidate: a smaller share could miss (see the sample's test).
  auto checked = store->Backup(lying, o);
  ASSERT_TRUE(checked.has_value()) << checked.error().ToString();
  const auto& inc = checked->volumes[0].incremental;
  ASSERT_TRUE(inc.has_value());
  EXPECT_TRUE(inc->fell_back);
  EXPECT_GT(inc->mismatches, 0u);
  EXPECT_GT(inc->verified_bytes, 0u);
  EXPECT_EQ(inc->verify_percent, 100);
  ASSERT_EQ(checked->warnings.size(), 1u);
  EXPECT_NE(checked->warnings[0].find("the change source list:test is wrong"), std::string::npos)
      << checked->warnings[0];
  ExpectRestores(*store, checked->id, a);
  // The sidecar as published says the same.
  auto published = store->ResolveSnapshot(checked->id.ToHex());
  ASSERT_TRUE(published.has_value());
  EXPECT_EQ(published->volumes[0].incremental, inc);

  // Nothing changed since: an empty change source is the truth and passes the same sample.
  auto truthful = Volume(a);
  truthful[0].changes = cbt::ChangedBlocks{{}, std::nullopt, ""};
  truthful[0].cbt = "list:empty";
  auto fine = store->Backup(truthful, o);
  ASSERT_TRUE(fine.has_value()) << fine.error().ToString();
  EXPECT_FALSE(fine->volumes[0].incremental->fell_back);
  EXPECT_EQ(fine->volumes[0].incremental->mismatches, 0u);
  EXPECT_GT(fine->volumes[0].incremental->verified_bytes, 0u);
  EXPECT_TRUE(fine->warnings.empty());
  EXPECT_EQ(fine->volumes[0].stats.bytes_read, 0u);
  ExpectRestores(*store, fine->id, a);
  ExpectCheckPasses(*store);

  o.cbt_verify_percent = 101;
  auto refused = store->Backup(truthful, o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Status::Code::kInvalidArgument);
}

// restore --delta: an existing target is compared block by block and only what differs is
// written; with the target's changes named, only they are read.
TEST_F(ImageStoreTest, ADeltaRestoreWritesOnlyTheBlocksThatDiffer) {
  auto store = InitStore();
  const std::string a = MakeVolume("a.img", 5);
  auto backup = store->Backup(Volume(a), {});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  auto snapshot = store->ResolveSnapshot(backup->id.ToHex());
  ASSERT_TRUE(snapshot.has_value());
  const std::string original = testing::ReadFileOrDie(a);
  const std::string target = (dir_.path() / "target.img").string();

  // The target drifted: 8 scattered writes of 100 bytes, each inside one 4 KiB block.
  auto drift = [&] {
    std::filesystem::copy_file(a, target, std::filesystem::copy_options::overwrite_existing);
    const int fd = ::open(target.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const std::string x(100, 'x');
    for (int i = 0; i < 8; ++i) {
      const off_t at = static_cast<off_t>(i) * 300'000 + 10;
      ASSERT_EQ(::pwrite(fd, x.data(), x.size(), at), 100);
    }
    ::close(fd);
  };
  drift();
  ImageRestoreOptions o;
  o.delta = true;
  auto whole = store->Restore(*snapshot, "", target, o);
  ASSERT_TRUE(whole.has_value()) << whole.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(target), original);
  EXPECT_EQ(whole->bytes_written, 8u * 4096);
  EXPECT_LE(whole->bytes_compared, original.size());

  // Where neither the target file nor the snapshot holds anything, nothing is compared: a
  // sparse target holding one stray block in the snapshot's last hole.
  {
    const int fd = ::open(target.c_str(), O_RDWR | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(original.size())), 0);
    ASSERT_EQ(::pwrite(fd, "stray", 5, 5 << 20), 5);
    ::close(fd);
  }
  auto sparse = store->Restore(*snapshot, "", target, o);
  ASSERT_TRUE(sparse.has_value()) << sparse.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(target), original);
  EXPECT_LT(sparse->bytes_compared, 4u << 20) << "the holes of both were compared";

  drift();
  cbt::ExtentList changes;
  for (uint64_t i = 0; i < 8; ++i) changes.push_back({i * 300'000 + 10, 100});
  o.target_changes = changes;
  auto listed = store->Restore(*snapshot, "", target, o);
  ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
  EXPECT_EQ(testing::ReadFileOrDie(target), original);
  EXPECT_EQ(listed->bytes_written, 8u * 4096);
  EXPECT_EQ(listed->bytes_compared, 8u * 4096);

  // A target that grew or shrank is cut or extended to the volume first.
  for (const off_t size : {static_cast<off_t>(original.size()) + 5000, off_t{70'000}}) {
    drift();
    ASSERT_EQ(::truncate(target.c_str(), size), 0);
    o.target_changes = changes;
    auto resized = store->Restore(*snapshot, "", target, o);
    ASSERT_TRUE(resized.has_value()) << resized.error().ToString();
    EXPECT_EQ(testing::ReadFileOrDie(target), original) << size;
  }

  auto missing = store->Restore(*snapshot, "", target + ".missing", o);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Status::Code::kNotFound);
  o.qcow2 = Qcow2ExportOptions{};
  auto image = store->Restore(*snapshot, "", target, o);
  ASSERT_FALSE(image.has_value());
  EXPECT_EQ(image.error().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace ferry
