#include "common/bytes.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(BytesTest, HexRoundTrip) {
  const std::string raw("\x00\x01\xab\xff", 4);
  EXPECT_EQ(ToHex(AsBytes(raw)), "0001abff");
  std::string back;
  ASSERT_TRUE(FromHex("0001ABff", &back));
  EXPECT_EQ(back, raw);
}

TEST(BytesTest, FromHexRejectsBadInput) {
  std::string out;
  EXPECT_FALSE(FromHex("abc", &out));
  EXPECT_FALSE(FromHex("zz", &out));
}

TEST(BytesTest, IsAllZeroFindsAnyNonZeroByte) {
  EXPECT_TRUE(IsAllZero({}));
  for (size_t size : {1u, 7u, 63u, 64u, 65u, 200u}) {
    std::string data(size, '\0');
    EXPECT_TRUE(IsAllZero(AsBytes(data))) << size;
    for (size_t at = 0; at < size; ++at) {
      data[at] = 1;
      EXPECT_FALSE(IsAllZero(AsBytes(data))) << size << " " << at;
      data[at] = 0;
    }
  }
}

}  // namespace
}  // namespace ferry
