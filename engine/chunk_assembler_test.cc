#include "engine/chunk_assembler.h"

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

ByteView Slice(const std::string& s, size_t from, size_t to) {
  return AsBytes(std::string_view(s).substr(from, to - from));
}

// Feeds `data` (at `base`) in buffers of `buffer` bytes with the given cuts, as a reader does,
// and returns the chunks.
std::vector<ChunkJob> Assemble(const std::string& data, uint64_t base, size_t buffer,
                               const std::vector<uint64_t>& cuts) {
  ChunkAssembler a(4096);
  a.Reset(base);
  std::vector<ChunkJob> out;
  size_t next_cut = 0;
  for (size_t at = 0; at < data.size(); at += buffer) {
    const size_t end = std::min(data.size(), at + buffer);
    a.BeginBuffer(Slice(data, at, end));
    while (next_cut < cuts.size() && cuts[next_cut] <= base + end) {
      out.push_back(a.Cut(cuts[next_cut++]));
    }
    a.EndBuffer();
  }
  while (next_cut < cuts.size()) out.push_back(a.Cut(cuts[next_cut++]));
  return out;
}

TEST(ChunkAssemblerTest, ChunksAreTheBytesBetweenCutsWhereverTheBuffersEnd) {
  const std::string data = testing::RandomBytes(10'000, 5);
  const uint64_t base = 1'000'000;
  // Cuts inside one buffer, on a buffer's end, spanning two and three buffers, and the last.
  const std::vector<uint64_t> cuts = {base + 100,  base + 700,  base + 1024,  base + 1500,
                                      base + 3900, base + 3901, base + 10'000};
  for (size_t buffer : {1u, 7u, 512u, 1024u, 4096u, 20'000u}) {
    SCOPED_TRACE(buffer);
    const std::vector<ChunkJob> chunks = Assemble(data, base, buffer, cuts);
    ASSERT_EQ(chunks.size(), cuts.size());
    uint64_t start = base;
    for (size_t i = 0; i < cuts.size(); ++i) {
      EXPECT_EQ(chunks[i].offset, start);
      EXPECT_TRUE(chunks[i].data == data.substr(start - base, cuts[i] - start)) << "chunk " << i;
      start = cuts[i];
    }
  }
}

TEST(ChunkAssemblerTest, ACutBehindTheCurrentBufferLeavesTheRestForTheNextChunk) {
  const std::string data = testing::RandomBytes(3000, 6);
  ChunkAssembler a(4096);
  a.Reset(0);
  a.BeginBuffer(Slice(data, 0, 1000));
  a.EndBuffer();  // No cut yet: all 1000 bytes are partial.
  a.BeginBuffer(Slice(data, 1000, 2000));
  // The chunker reports a cut at 600, behind this buffer, then one inside it.
  const ChunkJob first = a.Cut(600);
  const ChunkJob second = a.Cut(1500);
  a.EndBuffer();
  const ChunkJob third = a.Cut(2000);
  EXPECT_EQ(first.offset, 0u);
  EXPECT_TRUE(first.data == data.substr(0, 600));
  EXPECT_EQ(second.offset, 600u);
  EXPECT_TRUE(second.data == data.substr(600, 900));
  EXPECT_EQ(third.offset, 1500u);
  EXPECT_TRUE(third.data == data.substr(1500, 500));
}

TEST(ChunkAssemblerTest, ResetDropsThePartialChunk) {
  const std::string data = testing::RandomBytes(2000, 7);
  ChunkAssembler a(4096);
  a.Reset(0);
  a.BeginBuffer(Slice(data, 0, 1000));
  a.EndBuffer();
  a.Reset(5000);  // A new run elsewhere: nothing of the old one may leak into it.
  a.BeginBuffer(Slice(data, 1000, 2000));
  const ChunkJob c = a.Cut(5400);
  EXPECT_EQ(c.offset, 5000u);
  EXPECT_TRUE(c.data == data.substr(1000, 400));
}

}  // namespace
}  // namespace ferry
