// scrypt against RFC 7914 section 12, and against OpenSSL's EVP_PBE_scrypt over many parameters.
#include "formats/codec/scrypt_kdf.h"

#include <random>

#include <openssl/evp.h>

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
  EXPECT_EQ(
      ToHex(AsBytes(
          DeriveKeyScrypt("pleaseletmein", AsBytes("SodiumChloride"), {16384, 8, 1}, 64).value())),
      "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d4"
      "9705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

std::string OpenSslScrypt(const std::string& passphrase, const std::string& salt,
                          const ScryptParams& p, size_t key_size) {
  std::string key(key_size, '\0');
  EXPECT_EQ(EVP_PBE_scrypt(passphrase.data(), passphrase.size(),
                           reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), p.n,
                           p.r, p.p, uint64_t{1} << 30,
                           reinterpret_cast<unsigned char*>(key.data()), key.size()),
            1);
  return key;
}

// Our ROMix (SSE2, blocks kept in diagonal word order) must agree with OpenSSL's for every shape
// of block: r from 1 (one pair of Salsa blocks) up, several p, N from the smallest.
TEST(ScryptTest, MatchesOpenSslOverManyParameters) {
  std::mt19937_64 rng(7914);
  for (int round = 0; round < 60; ++round) {
    const ScryptParams params{uint64_t{2} << (rng() % 10), static_cast<uint32_t>(1 + rng() % 9),
                              static_cast<uint32_t>(1 + rng() % 3)};
    std::string passphrase(rng() % 40, '\0'), salt(rng() % 40, '\0');
    for (char& c : passphrase) c = static_cast<char>(rng());
    for (char& c : salt) c = static_cast<char>(rng());
    const size_t key_size = 1 + rng() % 80;
    const auto ours = DeriveKeyScrypt(passphrase, AsBytes(salt), params, key_size);
    ASSERT_TRUE(ours.has_value()) << ours.error().ToString();
    EXPECT_EQ(ToHex(AsBytes(*ours)),
              ToHex(AsBytes(OpenSslScrypt(passphrase, salt, params, key_size))))
        << "n=" << params.n << " r=" << params.r << " p=" << params.p;
  }
}

TEST(ScryptTest, RejectsBadOrHostileParameters) {
  EXPECT_TRUE(DeriveKeyScrypt("pw", {}, {1000, 8, 1}, 32).error().IsInvalidArgument());
  EXPECT_EQ(DeriveKeyScrypt("pw", {}, {uint64_t{1} << 40, 8, 1}, 32).error().message(),
            "scrypt parameters exceed 1 GiB of memory");
}

}  // namespace
}  // namespace ferry::codec
