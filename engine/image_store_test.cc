// The qcow2 layout's jobs beside each other (engine/layout_lock.h): a forget never runs while a
// backup writes, and a backup waits for a forget to finish.
#include "engine/image_store.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ferry
