// io_uring against the pread thread pool: sequential and random reads of a 1 GiB file with
// O_DIRECT at queue depth 32, 4 KiB and 1 MiB blocks (compare with fio: bench/RESULTS.md).
// The file is FERRY_BENCH_FILE or /var/tmp/ferry-bench-1g.bin, created once and reused.
#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <random>

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_data.h"
#include "engine/io/aligned_buffer.h"
#include "engine/io/file_handle.h"
#include "engine/io/io_queue.h"

namespace ferry::bench {
namespace {

constexpr uint64_t kFileSize = uint64_t{1} << 30;
constexpr unsigned kDepth = 32;

std::string BenchFile() {
  const char* env = std::getenv("FERRY_BENCH_FILE");
  std::string path = env != nullptr ? env : "/var/tmp/ferry-bench-1g.bin";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == kFileSize) {
    return path;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return {};
  const std::string& chunk = RandomData();
  for (uint64_t off = 0; off < kFileSize; off += chunk.size()) {
    if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) < 0) break;
  }
  ::fsync(fd);
  ::close(fd);
  return path;
}

// Args: backend (0 io_uring, 1 psync), random (0/1), block size, eager (flush each request as
// it is queued, as fio does with its default iodepth_batch_submit=1) or batched, and fixed
// (registered buffers, io_uring only) or not.
void BM_IoRead(benchmark::State& state) {
  const auto kind = state.range(0) == 0 ? io::BackendKind::kUring : io::BackendKind::kPsync;
  const bool random = state.range(1) != 0;
  const auto block = static_cast<size_t>(state.range(2));
  const bool eager = state.range(3) != 0;
  const std::string path = BenchFile();
  auto file = io::FileHandle::Open(path, {.direct = true});
  auto created = io::CreateIoQueue({.kind = kind, .depth = kDepth, .psync_threads = kDepth});
  if (path.empty() || !file || !created) {
    state.SkipWithError("cannot set up the benchmark file or queue");
    return;
  }
  io::IoQueue& q = *created->queue;
  std::vector<io::AlignedBuffer> bufs;
  std::vector<MutableByteView> regions;
  for (unsigned i = 0; i < kDepth; ++i) {
    bufs.emplace_back(block);
    regions.push_back(bufs.back().span());
  }
  // Registered buffers spare the kernel a page walk per request (fixed-buffer reads).
  const bool fixed = state.range(4) != 0 && q.RegisterBuffers(regions).ok();
  auto buf_index = [&](uint64_t tag) { return fixed ? static_cast<int>(tag) : -1; };
  // Random reads visit every block once per pass in a shuffled order, as fio's random map does:
  // repeating a block while it is in flight is slower on this VM's disk and is not what a
  // restore does (measured: fio --norandommap loses the same 30%).
  const uint64_t blocks = kFileSize / block;
  std::vector<uint64_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  if (random) std::shuffle(order.begin(), order.end(), std::mt19937_64(1));
  uint64_t next = 0;
  auto offset = [&] { return order[next++ % blocks] * block; };
  std::vector<io::IoCompletion> done;
  int64_t bytes = 0;
  for (unsigned i = 0; i < kDepth; ++i) {
    q.Submit({io::IoOp::kRead, file->fd(), offset(), bufs[i].data(), block, i, buf_index(i)});
  }
  for (auto _ : state) {
    done.clear();
    if (!q.Reap(1, &done)) {
      state.SkipWithError("reap failed");
      break;
    }
    for (const auto& c : done) {
      bytes += c.result;
      q.Submit({io::IoOp::kRead, file->fd(), offset(), bufs[c.tag].data(), block, c.tag,
                buf_index(c.tag)});
      if (eager && !q.Flush().ok()) state.SkipWithError("flush failed");
    }
  }
  done.clear();
  (void)q.Reap(q.in_flight(), &done);
  state.SetBytesProcessed(bytes);
  state.SetLabel(std::string(q.name()) + (file->direct() ? " O_DIRECT" : " buffered"));
}

void IoArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"psync", "random", "block", "eager", "fixed"});
  for (int64_t backend : {0, 1}) {
    for (int64_t random : {0, 1}) {
      for (int64_t block : {4 << 10, 1 << 20}) {
        for (int64_t eager : {0, 1}) {
          b->Args({backend, random, block, eager, 0});
          if (backend == 0) b->Args({backend, random, block, eager, 1});
        }
      }
    }
  }
}

BENCHMARK(BM_IoRead)->Apply(IoArgs)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace ferry::bench
