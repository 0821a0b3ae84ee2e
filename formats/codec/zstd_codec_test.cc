#include "formats/codec/zstd_codec.h"

#include "formats/codec/codec_test_util.h"
#include "tests/testutil/testutil.h"

namespace ferry::codec {
namespace {

TEST(ZstdCodecTest, RoundTripsTextAtSeveralLevels) {
  const std::string text = testing::PseudoText(300'000, 1);
  ZstdDecompressor dec;
  for (int level : {-5, 1, 3, 9}) {
    auto comp = ZstdCompressor::Create(level).value();
    std::string packed(ZstdCompressor::MaxOutputSize(text.size()), '\0');
    const CompressOutcome out = comp->Compress(AsBytes(text), Mut(packed)).value();
    ASSERT_FALSE(out.stored_raw) << level;
    EXPECT_LT(out.size, text.size() / 2) << level;
    std::string back(text.size(), '\0');
    ASSERT_TRUE(
        dec.Decompress(AsBytes(std::string_view(packed).substr(0, out.size)), Mut(back)).ok());
    EXPECT_EQ(back, text);
  }
}

TEST(ZstdCodecTest, StoresRandomDataRaw) {
  const std::string noise = testing::RandomBytes(65536, 9);
  auto comp = ZstdCompressor::Create(3).value();
  std::string packed(ZstdCompressor::MaxOutputSize(noise.size()), '\0');
  const CompressOutcome out = comp->Compress(AsBytes(noise), Mut(packed)).value();
  EXPECT_TRUE(out.stored_raw);
  EXPECT_EQ(out.size, 0u);
}

TEST(ZstdCodecTest, SameInputGivesSameOutput) {
  // Dedup of compressed packs and reproducible benchmarks rely on determinism.
  const std::string text = testing::PseudoText(100'000, 2);
  auto a = ZstdCompressor::Create(3).value();
  std::string out1(ZstdCompressor::MaxOutputSize(text.size()), '\0');
  std::string out2 = out1;
  const size_t n1 = a->Compress(AsBytes(text), Mut(out1)).value().size;
  const size_t n2 = a->Compress(AsBytes(text), Mut(out2)).value().size;
  EXPECT_EQ(out1.substr(0, n1), out2.substr(0, n2));
}

TEST(ZstdCodecTest, RejectsCorruptAndMisSizedInput) {
  const std::string text = testing::PseudoText(50'000, 3);
  auto comp = ZstdCompressor::Create(1).value();
  std::string packed(ZstdCompressor::MaxOutputSize(text.size()), '\0');
  packed.resize(comp->Compress(AsBytes(text), Mut(packed)).value().size);
  ZstdDecompressor dec;
  std::string small(text.size() - 1, '\0');
  Status s = dec.Decompress(AsBytes(packed), Mut(small));
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "zstd frame declares 50000 bytes, expected 49999");
  std::string back(text.size(), '\0');
  EXPECT_TRUE(dec.Decompress(AsBytes("not zstd at all"), Mut(back)).IsCorruption());
  std::string damaged = packed;
  damaged[damaged.size() / 2] ^= 0x5a;
  damaged[damaged.size() / 2 + 1] ^= 0x33;
  // A damaged body either fails to decode or decodes to other bytes; never to the original.
  Status d = dec.Decompress(AsBytes(damaged), Mut(back));
  EXPECT_TRUE(!d.ok() || back != text);
}

TEST(ZstdCodecTest, RejectsInvalidLevel) {
  EXPECT_TRUE(ZstdCompressor::Create(0).error().IsInvalidArgument());
  EXPECT_TRUE(ZstdCompressor::Create(99).error().IsInvalidArgument());
}

}  // namespace
}  // namespace ferry::codec
