// scrypt against RFC 7914 section 12.
#include "formats/codec/scrypt_kdf.h"

#include "formats/codec/codec_test_util.h"

namespace ferry::codec {
namespace {

TEST(ScryptTest, MatchesRfc7914Vectors) {
  EXPECT_EQ(ToHex(AsBytes(DeriveKeyScrypt("", {}, {16, 1, 1}, 64).value())),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a"
            "753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  EXPECT_EQ(ToHex(AsBytes(DeriveKeyScrypt("password", AsBytes("NaCl"), {1024, 8, 16}, 64).value())),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff1"
            "09279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

TEST(ScryptTest, RejectsBadOrHostileParameters) {
  EXPECT_TRUE(DeriveKeyScrypt("pw", {}, {1000, 8, 1}, 32).error().IsInvalidArgument());
  EXPECT_EQ(DeriveKeyScrypt("pw", {}, {uint64_t{1} << 40, 8, 1}, 32).error().message(),
            "scrypt parameters exceed 1 GiB of memory");
}

}  // namespace
}  // namespace ferry::codec
