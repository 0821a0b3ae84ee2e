// Test helpers for chunkers: run a whole input through a chunker in one buffer or in many.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "chunker/chunker.h"

namespace ferry::chunker {

struct ChunkSpan {
  uint64_t offset;
  uint64_t length;
  bool operator==(const ChunkSpan&) const = default;
};

inline std::vector<ChunkSpan> ToSpans(const std::vector<uint64_t>& cuts) {
  std::vector<ChunkSpan> out;
  uint64_t start = 0;
  for (uint64_t c : cuts) {
    out.push_back({start, c - start});
    start = c;
  }
  return out;
}

// Feeds `data` in one Update().
inline std::vector<uint64_t> CutsWhole(const Params& params, const std::string& data) {
  auto chunker = MakeChunker(params).value();
  std::vector<uint64_t> cuts;
  chunker->Update(AsBytes(data), &cuts);
  chunker->Finish(&cuts);
  return cuts;
}

// Feeds `data` in pieces of random sizes in [1, max_piece] (with some empty pieces too).
inline std::vector<uint64_t> CutsSplit(const Params& params, const std::string& data,
                                       std::mt19937_64* rng, size_t max_piece) {
  auto chunker = MakeChunker(params).value();
  std::vector<uint64_t> cuts;
  std::uniform_int_distribution<size_t> piece(0, max_piece);
  size_t at = 0;
  while (at < data.size()) {
    const size_t n = std::min(piece(*rng), data.size() - at);
    chunker->Update(AsBytes(std::string_view(data).substr(at, n)), &cuts);
    at += n;
  }
  chunker->Finish(&cuts);
  return cuts;
}

}  // namespace ferry::chunker
