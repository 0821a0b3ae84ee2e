// XXH3 against xxHash's own sanity vectors (tests/sanity_test_vectors.h of xxHash 0.8.2): the
// input is the sanity buffer generated from PRIME32/PRIME64 below.
#include "formats/codec/xxh3.h"

#include "formats/codec/codec_test_util.h"

namespace ferry::codec {
namespace {

std::string SanityBuffer() {
  constexpr uint64_t kPrime32 = 2654435761U;
  constexpr uint64_t kPrime64 = 11400714785074694797ULL;
  std::string buf(4096 + 64 + 1, '\0');
  uint64_t gen = kPrime32;
  for (char& c : buf) {
    c = static_cast<char>(gen >> 56);
    gen *= kPrime64;
  }
  return buf;
}

TEST(Xxh3Test, MatchesPublishedSanityVectors) {
  struct V {
    size_t len;
    uint64_t seed;
    uint64_t expected;
  };
  constexpr uint64_t kSeed = 0x9e3779b185ebca8dULL;
  const V vectors[] = {
      {0, 0, 0x2d06800538d394c2ULL},        {0, kSeed, 0xa8a6b918b2f0364aULL},
      {1, 0, 0xc44bdff4074eecdbULL},        {1, kSeed, 0x032be332dd766ef8ULL},
      {4, 0, 0xe5dc74bc51848a51ULL},        {16, 0, 0x981b17d36c7498c9ULL},
      {17, 0, 0x796f5acd3a60f862ULL},       {128, 0, 0xfcff24126754d861ULL},
      {129, 0, 0x98f1b0a679a2ca29ULL},      {240, 0, 0x81c3c2b67f568ccfULL},
      {241, 0, 0xc5a639ecd2030e5eULL},      {1024, 0, 0xdd85c9b5c1109c5cULL},
      {4096, kSeed, 0x2a3bbb20a5439dcdULL}, {4160, 0, 0x4f323b15321e94e1ULL},
  };
  const std::string buf = SanityBuffer();
  for (const V& v : vectors) {
    EXPECT_EQ(Xxh3_64(AsBytes(std::string_view(buf).substr(0, v.len)), v.seed), v.expected)
        << "len " << v.len;
  }
}

TEST(Xxh3Test, Xxh128OfEmptyInputMatchesXxhsum) {
  // `printf '' | xxhsum -H2` prints 99aa06d3014798d86001c324468d497f.
  EXPECT_EQ(Xxh3_128({}).ToHex(), "99aa06d3014798d86001c324468d497f");
}

TEST(Xxh3Test, StreamEqualsOneShotWhateverTheSplit) {
  const std::string buf = SanityBuffer();
  Xxh3Stream stream;
  for (size_t at = 0; at < buf.size(); at += 97) {
    stream.Update(AsBytes(std::string_view(buf).substr(at, 97)));
  }
  EXPECT_EQ(stream.Digest(), Xxh3_64(AsBytes(buf)));
  stream.Reset();
  EXPECT_EQ(stream.Digest(), 0x2d06800538d394c2ULL);
}

}  // namespace
}  // namespace ferry::codec
