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

}  // namespace
}  // namespace ferry
