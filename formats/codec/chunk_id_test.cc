// HMAC-SHA-256 against the RFC 4231 test cases (case 5, a truncated MAC, does not apply).
#include "formats/codec/chunk_id.h"

#include "formats/codec/codec_test_util.h"

namespace ferry::codec {
namespace {

struct Rfc4231Case {
  std::string key;
  std::string data;
  const char* mac_hex;
};

TEST(ChunkIdTest, MatchesRfc4231Vectors) {
  const std::vector<Rfc4231Case> cases = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& c : cases) {
    auto hasher = ChunkIdHasher::Create(AsBytes(c.key)).value();
    EXPECT_EQ(hasher->Hash(AsBytes(c.data)).ToHex(), c.mac_hex);
  }
}

TEST(ChunkIdTest, ReusedHasherGivesSameIdsAsFreshOnes) {
  const std::string key(32, 'k');
  auto reused = ChunkIdHasher::Create(AsBytes(key)).value();
  for (const char* data : {"", "a", "Hi There",
                           "longer data that spans more than one block of "
                           "sixty-four bytes, to cover the block loop"}) {
    auto fresh = ChunkIdHasher::Create(AsBytes(key)).value();
    EXPECT_EQ(reused->Hash(AsBytes(data)), fresh->Hash(AsBytes(data))) << data;
  }
}

TEST(ChunkIdTest, DifferentKeysGiveDifferentIds) {
  auto a = ChunkIdHasher::Create(AsBytes("key-a")).value();
  auto b = ChunkIdHasher::Create(AsBytes("key-b")).value();
  EXPECT_NE(a->Hash(AsBytes("same data")), b->Hash(AsBytes("same data")));
}

TEST(ChunkIdTest, RejectsEmptyKey) {
  EXPECT_EQ(ChunkIdHasher::Create({}).error().message(), "chunk id key is empty");
}

}  // namespace
}  // namespace ferry::codec
