// ReadPackHeader with the size a listing gave: one read for a pack of ordinary size, two for a
// header larger than the tail read first, and a clear error when the pack is not what the
// listing said.
#include "engine/pack_reader.h"

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "engine/hooked_transport.h"
#include "tests/testutil/testutil.h"
#include "transports/local/local_transport.h"

namespace ferry {
namespace {

class PackReaderTest : public ::testing::Test {
 protected:
  PackReaderTest()
      : transport_(LocalTransport::Open(dir_.path().string()).value()),
        sealer_(repo::Sealer::Create(AsBytes(std::string(32, 'k'))).value()) {}

  // Writes a pack of `blobs` blobs of 10 bytes each; returns its id and size.
  std::pair<repo::ObjectId, uint64_t> WritePack(int blobs) {
    repo::PackBuilder builder(repo::NewObjectId().value());
    std::string pack;
    for (int i = 0; i < blobs; ++i) {
      const std::string blob = testing::RandomBytes(10, static_cast<uint64_t>(i));
      codec::ChunkId id;
      std::memcpy(id.bytes.data(),
                  testing::RandomBytes(32, 1000u + static_cast<uint64_t>(i)).data(), 32);
      builder.Add(repo::BlobType::kData, id, 10, 10);
      pack += blob;
    }
    pack += builder.Finish(*sealer_).value();
    EXPECT_TRUE(transport_.Put(repo::PackName(builder.id()), AsBytes(pack)).ok());
    return {builder.id(), pack.size()};
  }

  testing::TempDir dir_;
  testing::HookedTransport transport_;
  std::unique_ptr<repo::Sealer> sealer_;
};

TEST_F(PackReaderTest, AnOrdinaryPackTakesOneReadAndALargeHeaderTwo) {
  const auto [small, small_size] = WritePack(64);
  auto header = ReadPackHeader(transport_, *sealer_, small, small_size);
  ASSERT_TRUE(header.has_value()) << header.error().ToString();
  EXPECT_EQ(header->entries.size(), 64u);
  EXPECT_EQ(header->blob_area, 640u);
  EXPECT_EQ(transport_.reads.load(), 1);

  // 45 bytes an entry: 3000 of them do not fit in the first read.
  const auto [large, large_size] = WritePack(3000);
  ASSERT_GT(large_size - 30000, kPackTailRead);
  header = ReadPackHeader(transport_, *sealer_, large, large_size);
  ASSERT_TRUE(header.has_value()) << header.error().ToString();
  ASSERT_EQ(header->entries.size(), 3000u);
  EXPECT_EQ(header->entries.back().offset, 29990u);
  EXPECT_EQ(transport_.reads.load(), 3);
  EXPECT_EQ(transport_.sizes.load(), 0);
}

TEST_F(PackReaderTest, APackThatIsNotTheListedSizeIsReported) {
  const auto [id, size] = WritePack(8);
  const std::string name = repo::PackName(id);
  auto longer = ReadPackHeader(transport_, *sealer_, id, size + 100);
  ASSERT_FALSE(longer.has_value());
  EXPECT_TRUE(longer.error().IsCorruption());
  EXPECT_NE(longer.error().message().find(name + ": shorter than listed"), std::string::npos)
      << longer.error().message();

  auto shorter = ReadPackHeader(transport_, *sealer_, id, size - 1);  // The trailer is off.
  ASSERT_FALSE(shorter.has_value());
  EXPECT_TRUE(shorter.error().IsCorruption()) << shorter.error().ToString();
  EXPECT_NE(shorter.error().message().find(name), std::string::npos);

  auto tiny = ReadPackHeader(transport_, *sealer_, id, 5);
  ASSERT_FALSE(tiny.has_value());
  EXPECT_NE(tiny.error().message().find("truncated"), std::string::npos);

  auto missing = ReadPackHeader(transport_, *sealer_, repo::NewObjectId().value(), size);
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().IsNotFound()) << missing.error().ToString();
}

}  // namespace
}  // namespace ferry
