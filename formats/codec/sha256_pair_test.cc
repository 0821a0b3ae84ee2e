// Paired and single-stream SHA-256 against OpenSSL's, and HashMany against Hash, over lengths
// around every padding boundary and random batches of chunk-like sizes. The digests must agree
// on every CPU; on one with SHA-NI these tests run the pairs (PairsAvailable says which).
#include "formats/codec/sha256_pair.h"

#include <cstring>

#include <openssl/sha.h>

#include "common/splitmix64.h"

#include "formats/codec/chunk_id.h"
#include "formats/codec/codec_test_util.h"

namespace ferry::codec {
namespace {

std::string RandomBytes(uint64_t* seed, size_t n) {
  std::string s(n + 8, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = SplitMix64(seed);
    std::memcpy(s.data() + i, &v, 8);
  }
  s.resize(n);
  return s;
}

sha256::Digest OpenSslSha256(std::string_view data) {
  sha256::Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

sha256::Continuation Whole(std::string_view data) {
  return {.data = reinterpret_cast<const uint8_t*>(data.data()), .size = data.size()};
}

// Lengths on both sides of every place the padding changes shape, and a few long ones.
std::vector<size_t> EdgeLengths() {
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 200; ++n) lengths.push_back(n);
  for (size_t n :
       std::vector<size_t>{1000, 4095, 4096, 4097, 65536, 65536 + 55, 65536 + 56, 262144 + 63}) {
    lengths.push_back(n);
  }
  return lengths;
}

TEST(Sha256PairTest, SingleStreamMatchesOpenSsl) {
  uint64_t seed = 1;
  for (size_t n : EdgeLengths()) {
    const std::string data = RandomBytes(&seed, n);
    EXPECT_EQ(sha256::Finish(Whole(data)), OpenSslSha256(data)) << n << " bytes";
  }
}

TEST(Sha256PairTest, PortableCompressionMatchesTheDispatchedOne) {
  uint64_t seed = 2;
  const std::string blocks = RandomBytes(&seed, 64 * 33);
  sha256::State portable = sha256::kInitialState, dispatched = sha256::kInitialState;
  sha256::detail::CompressPortable(portable, reinterpret_cast<const uint8_t*>(blocks.data()), 33);
  sha256::CompressBlocks(dispatched, reinterpret_cast<const uint8_t*>(blocks.data()), 33);
  EXPECT_EQ(portable, dispatched);
}

TEST(Sha256PairTest, ManyMessagesMatchOpenSslAtEveryEdgeLength) {
  uint64_t seed = 3;
  std::vector<std::string> data;
  for (size_t n : EdgeLengths()) data.push_back(RandomBytes(&seed, n));
  // Both orders: each message meets partners of other lengths and finishes at another time.
  for (bool reversed : {false, true}) {
    std::vector<sha256::Continuation> messages;
    for (const auto& d : data) messages.push_back(Whole(d));
    if (reversed) std::reverse(messages.begin(), messages.end());
    std::vector<sha256::Digest> digests(messages.size());
    sha256::FinishMany(messages, digests);
    for (size_t i = 0; i < messages.size(); ++i) {
      const std::string_view m(reinterpret_cast<const char*>(messages[i].data), messages[i].size);
      EXPECT_EQ(digests[i], OpenSslSha256(m)) << m.size() << " bytes";
    }
  }
  RecordProperty("pairs", sha256::PairsAvailable() ? "sha-ni" : "off");
}

TEST(Sha256PairTest, ContinuationsResumeFromTheirOwnStates) {
  // Each message's first blocks are absorbed separately, as HMAC does with its key pad.
  uint64_t seed = 4;
  std::vector<std::string> data;
  std::vector<sha256::Continuation> messages;
  for (size_t i = 0; i < 40; ++i) data.push_back(RandomBytes(&seed, 64 * (i % 3) + i * 97));
  for (const auto& d : data) {
    const size_t prefix = std::min<size_t>(d.size() / 64, 2) * 64;
    sha256::State start = sha256::kInitialState;
    sha256::CompressBlocks(start, reinterpret_cast<const uint8_t*>(d.data()), prefix / 64);
    messages.push_back({.start = start,
                        .prefix_bytes = prefix,
                        .data = reinterpret_cast<const uint8_t*>(d.data()) + prefix,
                        .size = d.size() - prefix});
  }
  std::vector<sha256::Digest> digests(messages.size());
  sha256::FinishMany(messages, digests);
  for (size_t i = 0; i < data.size(); ++i) EXPECT_EQ(digests[i], OpenSslSha256(data[i])) << i;
}

TEST(Sha256PairTest, HashManyEqualsHashForRandomChunkBatches) {
  uint64_t seed = 5;
  for (size_t key_size : std::vector<size_t>{32, 64, 65, 131}) {
    const std::string key = RandomBytes(&seed, key_size);
    auto hasher = ChunkIdHasher::Create(AsBytes(key)).value();
    // Batches of one, two, odd sizes, and larger than HashMany's internal batch of 64.
    for (size_t count : std::vector<size_t>{1, 2, 3, 16, 17, 64, 65, 150}) {
      std::vector<std::string> chunks;
      for (size_t i = 0; i < count; ++i) {
        // Sizes 4 to 128 KiB, and now and then a tiny one, so partners finish far apart.
        const size_t n = SplitMix64(&seed) % 8 == 0 ? SplitMix64(&seed) % 130
                                                    : 4096 + SplitMix64(&seed) % 126976;
        chunks.push_back(RandomBytes(&seed, n));
      }
      std::vector<ByteView> views;
      for (const auto& c : chunks) views.push_back(AsBytes(c));
      std::vector<ChunkId> ids(count);
      hasher->HashMany(views, ids);
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(ids[i], hasher->Hash(views[i]))
            << "key " << key_size << " bytes, batch of " << count << ", chunk " << i << " of "
            << chunks[i].size() << " bytes";
      }
    }
  }
}

TEST(Sha256PairTest, HashManyMatchesRfc4231) {
  // RFC 4231 case 6 (a key longer than a block), many times in one batch.
  auto hasher = ChunkIdHasher::Create(AsBytes(std::string(131, '\xaa'))).value();
  const std::string data = "Test Using Larger Than Block-Size Key - Hash Key First";
  std::vector<ByteView> views(5, AsBytes(data));
  std::vector<ChunkId> ids(views.size());
  hasher->HashMany(views, ids);
  for (const ChunkId& id : ids) {
    EXPECT_EQ(id.ToHex(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  }
}

}  // namespace
}  // namespace ferry::codec
