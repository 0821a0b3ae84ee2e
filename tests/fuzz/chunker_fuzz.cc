// Chunker fuzz target. The first bytes choose the parameters and how the stream is split; the
// rest is the stream. Checks, against the whole-buffer result as the reference model:
//  - any split gives the same cut points;
//  - the chunks tile the input (increasing cuts, the last one at the end);
//  - every chunk but the last is within [min, max] (fixed: exactly the size).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "chunker/chunker.h"

namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

uint32_t Take(const uint8_t*& p, size_t& n, uint32_t bound) {
  uint32_t v = 0;
  for (int i = 0; i < 3 && n > 0; ++i, ++p, --n) v = (v << 8) | *p;
  return bound == 0 ? v : v % bound;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ferry::chunker::Algorithm;
  const uint8_t* p = data;
  size_t n = size;
  ferry::chunker::Params params;
  const uint32_t algo = Take(p, n, 3);
  params.algorithm = algo == 0   ? Algorithm::kFastCdc2020
                     : algo == 1 ? Algorithm::kFastCdc2016
                                 : Algorithm::kFixed;
  // Small sizes, so short inputs still make many chunks.
  params.min_size = 64 + Take(p, n, 512);
  params.avg_size = params.min_size + 1 + Take(p, n, 2048);
  params.max_size = std::max<uint32_t>(1024, params.avg_size + 1 + Take(p, n, 4096));
  params.level = static_cast<int>(Take(p, n, 4));
  params.seed = Take(p, n, 0);
  if (params.algorithm == Algorithm::kFixed) params.avg_size = 512 + Take(p, n, 4096);
  const uint32_t split_seed = Take(p, n, 0) | 1;
  if (!ferry::chunker::ValidateParams(params).ok()) return 0;

  const ferry::ByteView stream{reinterpret_cast<const std::byte*>(p), n};
  auto whole = ferry::chunker::MakeChunker(params).value();
  std::vector<uint64_t> expected;
  whole->Update(stream, &expected);
  whole->Finish(&expected);

  auto split = ferry::chunker::MakeChunker(params).value();
  std::vector<uint64_t> got;
  uint32_t rng = split_seed;
  size_t at = 0;
  while (at < n) {
    rng = rng * 1103515245u + 12345u;
    const size_t piece = std::min<size_t>(n - at, (rng >> 16) % 700);
    split->Update(stream.subspan(at, piece), &got);
    at += piece;
  }
  split->Finish(&got);
  Require(got == expected);

  uint64_t start = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    Require(expected[i] > start);
    const uint64_t len = expected[i] - start;
    const bool last = i + 1 == expected.size();
    if (params.algorithm == Algorithm::kFixed) {
      Require(last ? len <= params.avg_size : len == params.avg_size);
    } else {
      Require(len <= params.max_size);
      Require(last || len >= (params.min_size & ~1u));
    }
    start = expected[i];
  }
  Require(n == 0 ? expected.empty() : expected.back() == n);
  return 0;
}
