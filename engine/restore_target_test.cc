#include "engine/restore_target.h"

#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

struct Target {
  bool exists = false;
  struct stat st {};
};

Target StatOf(const std::string& path) {
  Target t;
  t.exists = ::stat(path.c_str(), &t.st) == 0;
  return t;
}

Status CheckNew(const std::string& path, bool overwrite) {
  const Target t = StatOf(path);
  return CheckNewTarget(path, t.exists, t.st, overwrite);
}

TEST(RestoreTargetTest, ANewFileIsFineAndAnExistingOneNeedsOverwrite) {
  testing::TempDir dir;
  const std::string file = (dir.path() / "volume.img").string();
  EXPECT_TRUE(CheckNew(file, false).ok());
  testing::WriteFileOrDie(file, "old");
  Status s = CheckNew(file, false);
  EXPECT_EQ(s.code(), Status::Code::kAlreadyExists) << s.ToString();
  EXPECT_NE(s.message().find("--overwrite"), std::string::npos) << s.ToString();
  EXPECT_TRUE(CheckNew(file, true).ok());
}

TEST(RestoreTargetTest, ADirectoryIsRefusedEvenWithOverwrite) {
  testing::TempDir dir;
  Status s = CheckNew(dir.path().string(), true);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("is a directory"), std::string::npos) << s.ToString();
}

// A pipe or a character device is a stream target (the dedup restore writes it in order: CLI
// tests), and as a new target it is refused: never replaced by a file, whatever --overwrite says.
TEST(RestoreTargetTest, PipesAndCharacterDevicesAreStreamsNeverReplaced) {
  testing::TempDir dir;
  const std::string fifo = (dir.path() / "pipe").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/null")}) {
    const Target t = StatOf(path);
    ASSERT_TRUE(t.exists) << path;
    EXPECT_TRUE(IsStreamTarget(t.exists, t.st)) << path;
    Status s = CheckNew(path, true);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << path << ": " << s.ToString();
    EXPECT_NE(s.message().find(path == fifo ? "is a pipe" : "is a character device"),
              std::string::npos)
        << s.ToString();
  }
  const Target file = StatOf(dir.path().string());
  EXPECT_FALSE(IsStreamTarget(file.exists, file.st));
  EXPECT_FALSE(IsStreamTarget(false, file.st));
}

TEST(RestoreTargetTest, ADeltaRestoreNeedsAnExistingFileOrBlockDevice) {
  testing::TempDir dir;
  const std::string file = (dir.path() / "volume.img").string();
  Target t = StatOf(file);
  EXPECT_EQ(CheckDeltaTarget(file, t.exists, t.st, false).code(), Status::Code::kNotFound);
  testing::WriteFileOrDie(file, "old");
  t = StatOf(file);
  EXPECT_TRUE(CheckDeltaTarget(file, t.exists, t.st, false).ok());
  EXPECT_EQ(CheckDeltaTarget(file, t.exists, t.st, true).code(), Status::Code::kInvalidArgument);
  t = StatOf("/dev/null");
  EXPECT_EQ(CheckDeltaTarget("/dev/null", t.exists, t.st, false).code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace ferry
