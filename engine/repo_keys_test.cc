// Key files on a real repository: a passphrase added, changed and removed, and the master key
// (so every snapshot) unchanged throughout.
#include "engine/repo_keys.h"

#include <string>

#include <gtest/gtest.h>

#include "common/origin.h"

#include "engine/repo_fixture.h"
#include "transports/local/local_transport.h"

namespace ferry {
namespace {

class RepoKeysTest : public testing::RepoFixture {
 protected:
  static constexpr codec::ScryptParams kCheap{1024, 8, 1};

  Result<std::unique_ptr<Repository>> OpenWith(std::string_view passphrase) {
    return Repository::Open(LocalTransport::Open((dir_.path() / "repo").string()).value(),
                            passphrase);
  }
};

TEST_F(RepoKeysTest, AnAddedPassphraseOpensTheSameRepositoryAndIsListedWithItsLabel) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 1);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  const repo::ObjectId first = repo->key_id();

  auto added = AddKey(*repo, "second", kCheap);
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  auto second = OpenWith("second");
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ((*second)->key_id(), *added);
  EXPECT_EQ((*second)->key().bytes, repo->key().bytes);
  ASSERT_TRUE((*second)->LoadIndex().ok());
  ExpectRestores(**second, backup->snapshot, "v", vol);

  auto keys = ListKeys(**second);
  ASSERT_TRUE(keys.has_value()) << keys.error().ToString();
  ASSERT_EQ(keys->size(), 2u);
  for (const KeyInfo& k : *keys) {
    EXPECT_EQ(k.current, k.id == *added);
    EXPECT_TRUE(k.id == first || k.id == *added);
    // init labels its key too.
    EXPECT_TRUE(ParseRfc3339(k.label.created).has_value()) << k.label.created;
    EXPECT_EQ(k.label.hostname, LocalHostname());
    EXPECT_EQ(k.label.username, LocalUsername());
  }
  EXPECT_TRUE(OpenWith("pw").has_value());  // The first passphrase still opens it.
}

TEST_F(RepoKeysTest, RemovingAKeyRetiresItsPassphraseButNeverTheOneInUse) {
  auto repo = InitRepo();
  auto added = AddKey(*repo, "second", kCheap);
  ASSERT_TRUE(added.has_value()) << added.error().ToString();

  Status s = RemoveKey(*repo, repo->key_id());
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("is the one this passphrase opened"), std::string::npos);
  s = RemoveKey(*repo, repo::NewObjectId().value());
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();

  ASSERT_TRUE(RemoveKey(*repo, *added).ok());
  auto gone = OpenWith("second");
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code(), Status::Code::kPermissionDenied) << gone.error().ToString();
  EXPECT_EQ(ListKeys(*repo).value().size(), 1u);
}

// Two admins, each removing the other's key: whichever comes second finds its own key gone and
// removes nothing, so one key always remains.
TEST_F(RepoKeysTest, TwoRemovalsOfEachOthersKeysLeaveOneKey) {
  auto a = InitRepo();
  auto added = AddKey(*a, "b", kCheap);
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  auto b = OpenWith("b");
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  ASSERT_TRUE(RemoveKey(**b, a->key_id()).ok());
  Status s = RemoveKey(*a, (*b)->key_id());
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("was removed meanwhile: nothing was removed"), std::string::npos)
      << s.ToString();
  EXPECT_TRUE(OpenWith("b").has_value());
  EXPECT_EQ(ListKeys(**b).value().size(), 1u);
  EXPECT_TRUE(a->transport().List("locks").value().empty());
}

TEST_F(RepoKeysTest, ChangingThePassphraseLeavesOnlyTheNewOne) {
  auto repo = InitRepo();
  const std::string vol = MakeVolume("vol.img", 2);
  auto backup = Run(*repo, {{vol, "v"}});
  ASSERT_TRUE(backup.has_value()) << backup.error().ToString();
  const repo::ObjectId old = repo->key_id();

  auto changed = ChangePassphrase(*repo, "new", kCheap);
  ASSERT_TRUE(changed.has_value()) << changed.error().ToString();
  EXPECT_EQ(repo->key_id(), *changed);
  EXPECT_NE(*changed, old);
  auto keys = ListKeys(*repo);
  ASSERT_TRUE(keys.has_value());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE(keys->front().current);

  auto with_old = OpenWith("pw");
  ASSERT_FALSE(with_old.has_value());
  EXPECT_EQ(with_old.error().code(), Status::Code::kPermissionDenied);
  auto with_new = OpenWith("new");
  ASSERT_TRUE(with_new.has_value()) << with_new.error().ToString();
  ASSERT_TRUE((*with_new)->LoadIndex().ok());
  ExpectRestores(**with_new, backup->snapshot, "v", vol);
}

TEST_F(RepoKeysTest, AnUnencryptedRepositoryHasNoPassphraseToAdd) {
  auto repo = InitRepo(/*encrypted=*/false);
  auto added = AddKey(*repo, "x", kCheap);
  ASSERT_FALSE(added.has_value());
  EXPECT_TRUE(added.error().IsNotSupported()) << added.error().ToString();
}

TEST_F(RepoKeysTest, AnEmptyPassphraseIsRefused) {
  auto repo = InitRepo();
  auto added = AddKey(*repo, "", kCheap);
  ASSERT_FALSE(added.has_value());
  EXPECT_TRUE(added.error().IsInvalidArgument()) << added.error().ToString();
  EXPECT_EQ(ListKeys(*repo).value().size(), 1u);
}

}  // namespace
}  // namespace ferry
