#include "common/status.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "common/result.h"

namespace ferry {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, FromErrnoMapsCodesAndKeepsNumber) {
  Status s = Status::FromErrno(ENOSPC, "writing data/ab/cd");
  EXPECT_TRUE(s.IsNoSpace());
  EXPECT_EQ(s.errno_value(), ENOSPC);
  EXPECT_EQ(s.message(), "writing data/ab/cd: No space left on device");
  EXPECT_TRUE(Status::FromErrno(ENOENT, "x").IsNotFound());
  EXPECT_TRUE(Status::FromErrno(EAGAIN, "x").IsRetryable());
  EXPECT_EQ(Status::FromErrno(EIO, "x").code(), Status::Code::kIoError);
}

TEST(StatusTest, WithContextPrefixesMessage) {
  Status s = Status::Corruption("bad magic").WithContext("pack 0a1b");
  EXPECT_EQ(s.ToString(), "corruption: pack 0a1b: bad magic");
}

TEST(StatusTest, WithNoteAppendsAndKeepsCodeAndErrno) {
  Status s = Status::FromErrno(ENOSPC, "write p").WithNote("removed 2 packs");
  EXPECT_TRUE(s.IsNoSpace());
  EXPECT_EQ(s.errno_value(), ENOSPC);
  EXPECT_EQ(s.message(), "write p: No space left on device; removed 2 packs");
  EXPECT_TRUE(Status().WithNote("x").ok());
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Err(Status::InvalidArgument("odd"));
  return x / 2;
}

Result<int> Quarter(int x) {
  FERRY_ASSIGN_OR_RETURN(int h, Half(x));
  FERRY_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckQuarter(int x) {
  FERRY_RETURN_IF_ERROR(Quarter(x));
  return Status();
}

TEST(ResultTest, MacrosPropagateErrorsToResultAndStatus) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_TRUE(Quarter(6).error().IsInvalidArgument());
  EXPECT_TRUE(CheckQuarter(8).ok());
  EXPECT_EQ(CheckQuarter(2).message(), "odd");
}

}  // namespace
}  // namespace ferry
