#include "engine/chunk_scan.h"

#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

#include "chunker/chunker_test_util.h"
#include "formats/codec/xxh3.h"
#include "tests/testutil/testutil.h"

namespace ferry {
namespace {

class ChunkScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content_ = testing::RandomBytes(3'000'001, 21) + testing::PseudoText(1'000'000, 22) +
               std::string(500'000, '\0');
    path_ = (dir_.path() / "volume.img").string();
    std::ofstream(path_, std::ios::binary) << content_;
  }

  // The expected result, computed independently: whole-buffer cuts, one-shot hashes.
  std::vector<ChunkRecord> Expected(const chunker::Params& p) const {
    std::vector<ChunkRecord> out;
    uint64_t start = 0;
    for (uint64_t cut : chunker::CutsWhole(p, content_)) {
      const auto piece = std::string_view(content_).substr(start, cut - start);
      out.push_back({start, cut - start, codec::Xxh3_64(AsBytes(piece))});
      start = cut;
    }
    return out;
  }

  testing::TempDir dir_;
  std::string content_;
  std::string path_;
};

TEST_F(ChunkScanTest, MatchesIndependentComputationForEveryAlgorithmAndBufferSize) {
  for (auto algo : {chunker::Algorithm::kFastCdc2020, chunker::Algorithm::kFastCdc2016,
                    chunker::Algorithm::kFixed}) {
    chunker::Params p{algo, 4097, 16384, 65535, 1, 0};
    const auto expected = Expected(p);
    // 4 KiB buffers put many FastCDC 2020 pairs across buffer boundaries.
    for (size_t buf_size : {size_t{4096}, size_t{1} << 20}) {
      for (auto backend : {io::BackendKind::kAuto, io::BackendKind::kPsync}) {
        ChunkScanOptions opts;
        opts.params = p;
        opts.reader.buffer_size = buf_size;
        opts.reader.backend = backend;
        std::vector<ChunkRecord> got;
        auto summary = ScanChunks(path_, opts, [&](const ChunkRecord& c) { got.push_back(c); });
        ASSERT_TRUE(summary.has_value()) << summary.error().ToString();
        EXPECT_EQ(summary->bytes, content_.size());
        EXPECT_EQ(summary->chunks, expected.size());
        ASSERT_EQ(got.size(), expected.size());
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_TRUE(got[i] == expected[i])
              << chunker::AlgorithmName(algo) << " buffers " << buf_size << " chunk " << i << ": "
              << got[i].offset << "+" << got[i].length << " vs " << expected[i].offset << "+"
              << expected[i].length;
        }
      }
    }
  }
}

TEST_F(ChunkScanTest, ReadsStandardInputFromAPipe) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const int saved_stdin = dup(STDIN_FILENO);
  ASSERT_EQ(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
  close(fds[0]);
  std::thread writer([&] {
    // Odd-sized writes so reads see arbitrary boundaries.
    for (size_t at = 0; at < content_.size(); at += 77'777) {
      const size_t n = std::min<size_t>(77'777, content_.size() - at);
      ASSERT_EQ(write(fds[1], content_.data() + at, n), static_cast<ssize_t>(n));
    }
    close(fds[1]);
  });
  ChunkScanOptions opts;
  std::vector<ChunkRecord> got;
  auto summary = ScanChunks("-", opts, [&](const ChunkRecord& c) { got.push_back(c); });
  writer.join();
  dup2(saved_stdin, STDIN_FILENO);
  close(saved_stdin);
  ASSERT_TRUE(summary.has_value()) << summary.error().ToString();
  EXPECT_EQ(summary->backend, "read");
  EXPECT_TRUE(got == Expected(opts.params));
}

TEST_F(ChunkScanTest, ReportsProgressAndHonoursCancel) {
  ChunkScanOptions opts;
  std::vector<Progress> seen;
  opts.progress = [&](const Progress& p) { seen.push_back(p); };
  ASSERT_TRUE(ScanChunks(path_, opts, [](const ChunkRecord&) {}).has_value());
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().done);
  EXPECT_EQ(seen.back().bytes_done, content_.size());
  EXPECT_EQ(seen.back().bytes_total, content_.size());

  CancelToken cancel;
  cancel.Cancel();
  opts.cancel = &cancel;
  auto r = ScanChunks(path_, opts, [](const ChunkRecord&) {});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsCancelled());
}

TEST_F(ChunkScanTest, MissingSourceIsAClearError) {
  auto r = ScanChunks((dir_.path() / "nope").string(), {}, [](const ChunkRecord&) {});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsNotFound());
  EXPECT_EQ(r.error().message(),
            "open " + (dir_.path() / "nope").string() + ": No such file or directory");
  auto d = ScanChunks(dir_.path().string(), {}, [](const ChunkRecord&) {});
  EXPECT_EQ(d.error().message(), dir_.path().string() + " is a directory");
}

TEST_F(ChunkScanTest, EmptyFileHasNoChunks) {
  const std::string empty = (dir_.path() / "empty").string();
  std::ofstream(empty).close();
  uint64_t n = 0;
  auto r = ScanChunks(empty, {}, [&](const ChunkRecord&) { ++n; });
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(r->bytes, 0u);
}

}  // namespace
}  // namespace ferry
