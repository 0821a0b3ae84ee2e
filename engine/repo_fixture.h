// A test fixture for engine tests: a repository in a temporary directory with small chunks and
// packs, sparse test volumes, and restore assertions.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/backup.h"
#include "engine/restore.h"
#include "tests/testutil/testutil.h"
#include "transports/local/local_transport.h"

namespace ferry::testing {

class RepoFixture : public ::testing::Test {
 protected:
  std::unique_ptr<Repository> InitRepo(bool encrypted = true,
                                       chunker::Algorithm algo = chunker::Algorithm::kFastCdc2020) {
    return InitRepoWith(encrypted, {algo, 16 << 10, 64 << 10, 256 << 10, 1, 0});
  }

  std::unique_ptr<Repository> InitRepoWith(bool encrypted, const chunker::Params& params) {
    InitOptions o = TestInitOptions();
    o.encrypted = encrypted;
    o.chunker = params;
    return InitRepoWithOptions(o);
  }

  // What InitRepo() uses: small chunks, small packs, cheap key derivation.
  static InitOptions TestInitOptions() {
    InitOptions o;
    o.passphrase = "pw";
    o.scrypt = {1024, 8, 1};  // Cheap for tests.
    o.chunker = {chunker::Algorithm::kFastCdc2020, 16 << 10, 64 << 10, 256 << 10, 1, 0};
    o.pack_size = 1 << 20;  // Many packs from small volumes.
    return o;
  }

  std::unique_ptr<Repository> InitRepoWithOptions(const InitOptions& o) {
    std::filesystem::create_directories(dir_.path() / "repo");
    auto r = Repository::Init(LocalTransport::Open((dir_.path() / "repo").string()).value(), o);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return std::move(*r);
  }

  std::unique_ptr<Repository> Reopen(std::string_view pass = "pw") {
    auto r = Repository::Open(LocalTransport::Open((dir_.path() / "repo").string()).value(), pass);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_TRUE((*r)->LoadIndex().ok());
    return std::move(*r);
  }

  // A sparse volume of `gib` GiB with a little data in each GiB, so it has a map page and a
  // block-hash page per GiB yet backs up in moments.
  std::string MakeLargeVolume(const std::string& name, uint64_t gib) {
    const std::string path = (dir_.path() / name).string();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    for (uint64_t g = 0; g < gib; ++g) {
      const std::string data = RandomBytes(200'000, g);
      EXPECT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>((g << 30) + 4096)),
                static_cast<ssize_t>(data.size()));
    }
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>((gib << 30) + 777)), 0);
    ::close(fd);
    return path;
  }

  // A sparse volume: random data, text, an explicit zero run and holes.
  std::string MakeVolume(const std::string& name, uint64_t seed) {
    const std::string path = (dir_.path() / name).string();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    const std::string random = RandomBytes(1'500'000, seed);
    const std::string text = PseudoText(1'000'000, seed + 1);
    const std::string zeros(300'000, '\0');
    EXPECT_EQ(::pwrite(fd, random.data(), random.size(), 0), static_cast<ssize_t>(random.size()));
    EXPECT_EQ(::pwrite(fd, zeros.data(), zeros.size(), 1'500'000), 300'000);
    EXPECT_EQ(::pwrite(fd, text.data(), text.size(), 3 << 20), 1'000'000);
    EXPECT_EQ(::ftruncate(fd, (6 << 20) + 12345), 0);  // A hole at the end, odd size.
    ::close(fd);
    return path;
  }

  Result<BackupResult> Run(Repository& repo, std::vector<BackupSource> sources,
                           BackupOptions o = {}) {
    o.threads = 2;
    return Backup(repo, sources, o);
  }

  void ExpectRestores(Repository& repo, const repo::Snapshot& snap, const std::string& volume,
                      const std::string& original) {
    const std::string out = (dir_.path() / ("restored-" + volume)).string();
    RestoreOptions o;
    o.overwrite = true;
    auto r = Restore(repo, snap, volume, out, o);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(ReadFileOrDie(out), ReadFileOrDie(original)) << volume;
  }

  TempDir dir_;
};

}  // namespace ferry::testing
