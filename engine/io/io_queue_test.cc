// Both IoQueue backends against the same expectations, on real files.
#include "engine/io/io_queue.h"

#include <map>
#include <random>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/io/aligned_buffer.h"
#include "engine/io/file_handle.h"
#include "tests/testutil/testutil.h"

namespace ferry::io {
namespace {

class IoQueueTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    IoQueueOptions opts;
    opts.kind = GetParam();
    opts.depth = 16;
    auto created = CreateIoQueue(opts);
    if (!created && GetParam() == BackendKind::kUring && created.error().IsNotSupported()) {
      GTEST_SKIP() << created.error().message();
    }
    ASSERT_TRUE(created.has_value()) << created.error().ToString();
    queue_ = std::move(created->queue);
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = (dir_.path() / name).string();
    auto f = FileHandle::Open(path, {.write = true, .create = true, .truncate = true});
    EXPECT_TRUE(f.has_value());
    EXPECT_EQ(::pwrite(f->fd(), content.data(), content.size(), 0),
              static_cast<ssize_t>(content.size()));
    return path;
  }

  testing::TempDir dir_;
  std::unique_ptr<IoQueue> queue_;
};

TEST_P(IoQueueTest, ReportsItsBackend) {
  EXPECT_EQ(queue_->name(), GetParam() == BackendKind::kUring ? "io_uring" : "psync");
  EXPECT_EQ(queue_->depth(), 16u);
}

TEST_P(IoQueueTest, ManyRandomReadsReturnTheFileBytes) {
  const std::string content = testing::RandomBytes(3 << 20, 11);
  const std::string path = WriteFile("data", content);
  auto f = FileHandle::Open(path, {}).value();
  std::mt19937_64 rng(5);
  struct Pending {
    uint64_t offset;
    std::string buf;
  };
  std::map<uint64_t, Pending> pending;
  std::vector<IoCompletion> done;
  uint64_t next_tag = 0;
  size_t completed = 0;
  // More requests than the queue holds: refill as completions arrive.
  while (completed < 400) {
    while (queue_->in_flight() < queue_->depth() && next_tag < 400) {
      const uint64_t off = rng() % content.size();
      const size_t len = 1 + rng() % 70000;
      Pending& p = pending[next_tag];
      p.offset = off;
      p.buf.assign(len, '\0');
      queue_->Submit({IoOp::kRead, f.fd(), off, reinterpret_cast<std::byte*>(p.buf.data()), len,
                      next_tag, -1});
      ++next_tag;
    }
    done.clear();
    ASSERT_TRUE(queue_->Reap(1, &done).has_value());
    for (const IoCompletion& c : done) {
      Pending& p = pending.at(c.tag);
      const size_t expect = std::min<size_t>(p.buf.size(), content.size() - p.offset);
      ASSERT_EQ(c.result, static_cast<int64_t>(expect)) << "tag " << c.tag;
      EXPECT_EQ(p.buf.substr(0, expect), content.substr(p.offset, expect));
      pending.erase(c.tag);
      ++completed;
    }
  }
  EXPECT_EQ(queue_->in_flight(), 0u);
}

TEST_P(IoQueueTest, ReadPastEndOfFileIsShortNotAnError) {
  const std::string path = WriteFile("small", "0123456789");
  auto f = FileHandle::Open(path, {}).value();
  std::string buf(100, '\0');
  auto n = TransferSync(*queue_, IoOp::kRead, f.fd(), 4, reinterpret_cast<std::byte*>(buf.data()),
                        buf.size());
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 6u);
  EXPECT_EQ(buf.substr(0, 6), "456789");
  EXPECT_EQ(TransferSync(*queue_, IoOp::kRead, f.fd(), 50, reinterpret_cast<std::byte*>(buf.data()),
                         buf.size())
                .value(),
            0u);
}

TEST_P(IoQueueTest, WritesLandAtTheirOffsetsOutOfOrder) {
  const std::string path = (dir_.path() / "out").string();
  auto f = FileHandle::Open(path, {.write = true, .create = true}).value();
  const std::string content = testing::RandomBytes(1 << 20, 12);
  std::string copy = content;
  constexpr size_t kPiece = 65536;
  // Submit back to front, in batches of the queue depth.
  size_t piece = content.size() / kPiece;
  std::vector<IoCompletion> done;
  while (piece > 0) {
    while (piece > 0 && queue_->in_flight() < queue_->depth()) {
      --piece;
      queue_->Submit({IoOp::kWrite, f.fd(), piece * kPiece,
                      reinterpret_cast<std::byte*>(copy.data() + piece * kPiece), kPiece, piece,
                      -1});
    }
    ASSERT_TRUE(queue_->Reap(queue_->in_flight(), &done).has_value());
  }
  for (const auto& c : done) EXPECT_EQ(c.result, static_cast<int64_t>(kPiece));
  EXPECT_EQ(testing::ReadFileOrDie(path), content);
}

TEST_P(IoQueueTest, ErrorsArriveAsNegativeErrno) {
  std::string buf(10, '\0');
  auto r = TransferSync(*queue_, IoOp::kRead, 987654, 0, reinterpret_cast<std::byte*>(buf.data()),
                        buf.size());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().errno_value(), EBADF);
  EXPECT_EQ(r.error().message(), "read: Bad file descriptor");
}

TEST_P(IoQueueTest, RegisteredBuffersAndDirectIo) {
  // /var/tmp is on a real file system here (O_DIRECT works); where it is not, FileHandle falls
  // back to buffered I/O and the test still checks the bytes.
  const char* vt = std::getenv("FERRY_DIRECT_IO_DIR");
  const std::string path = std::string(vt != nullptr ? vt : "/var/tmp") + "/ferry-io-test-" +
                           std::to_string(::getpid()) + "-" +
                           std::to_string(static_cast<int>(GetParam()));
  const std::string content = testing::RandomBytes(1 << 20, 13);
  {
    auto w = FileHandle::Open(path, {.write = true, .create = true, .truncate = true}).value();
    ASSERT_EQ(::pwrite(w.fd(), content.data(), content.size(), 0),
              static_cast<ssize_t>(content.size()));
    ASSERT_EQ(::fsync(w.fd()), 0);
  }
  auto f = FileHandle::Open(path, {.direct = true}).value();
  AlignedBuffer buf(256 * 1024);
  const MutableByteView regions[] = {buf.span()};
  ASSERT_TRUE(queue_->RegisterBuffers(regions).ok());
  for (uint64_t off = 0; off < content.size(); off += buf.size()) {
    queue_->Submit({IoOp::kRead, f.fd(), off, buf.data(), buf.size(), off, 0});
    std::vector<IoCompletion> done;
    ASSERT_TRUE(queue_->Reap(1, &done).has_value());
    ASSERT_EQ(done.size(), 1u);
    ASSERT_EQ(done[0].result, static_cast<int64_t>(buf.size()));
    EXPECT_EQ(std::memcmp(buf.data(), content.data() + off, buf.size()), 0);
  }
  ::unlink(path.c_str());
}

TEST_P(IoQueueTest, FlushSendsWithoutReaping) {
  // Without Flush() a queued write waits for the next Reap(); with it the write reaches the
  // file while nobody reaps, which an outside pread observes.
  const std::string path = WriteFile("flushed", std::string(8, '.'));
  auto f = FileHandle::Open(path, {.write = true}).value();
  std::string data = "FLUSHED!";
  queue_->Submit(
      {IoOp::kWrite, f.fd(), 0, reinterpret_cast<std::byte*>(data.data()), data.size(), 1, -1});
  ASSERT_TRUE(queue_->Flush().ok());
  std::string seen(8, '\0');
  for (int i = 0; i < 500 && seen != data; ++i) {
    ASSERT_EQ(::pread(f.fd(), seen.data(), seen.size(), 0), 8);
    if (seen != data) ::usleep(10'000);
  }
  EXPECT_EQ(seen, data);
  std::vector<IoCompletion> done;
  ASSERT_TRUE(queue_->Reap(1, &done).has_value());
  EXPECT_EQ(done.at(0).result, 8);
}

INSTANTIATE_TEST_SUITE_P(Backends, IoQueueTest,
                         ::testing::Values(BackendKind::kUring, BackendKind::kPsync),
                         [](const auto& p) { return std::string(BackendKindName(p.param)); });

TEST(IoQueueOptionsTest, ParsesBackendNames) {
  EXPECT_EQ(ParseBackendKind("io_uring").value(), BackendKind::kUring);
  EXPECT_EQ(ParseBackendKind("psync").value(), BackendKind::kPsync);
  EXPECT_EQ(ParseBackendKind("aio").error().message(),
            "unknown I/O backend 'aio' (expected auto, uring or psync)");
  EXPECT_TRUE(CreateIoQueue({.depth = 0}).error().IsInvalidArgument());
}

}  // namespace
}  // namespace ferry::io
