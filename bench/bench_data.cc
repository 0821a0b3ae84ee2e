#include "bench/bench_data.h"

#include <array>
#include <cstdint>

#include "common/splitmix64.h"

namespace ferry::bench {

namespace {
constexpr size_t kSize = 64 << 20;

}  // namespace

const std::string& RandomData() {
  static const std::string data = [] {
    std::string d(kSize, '\0');
    uint64_t s = 1;
    for (size_t i = 0; i < kSize; i += 8) {
      const uint64_t v = SplitMix64(&s);
      for (size_t k = 0; k < 8; ++k) d[i + k] = static_cast<char>(v >> (8 * k));
    }
    return d;
  }();
  return data;
}

const std::string& TextData() {
  static const std::string data = [] {
    static const std::array<const char*, 24> kWords = {
        "backup", "volume", "the",  "snapshot", "of",    "restore", "a",       "block",
        "chunk",  "index",  "pack", "server",   "and",   "data",    "file",    "system",
        "host",   "record", "site", "database", "night", "replica", "changed", "written"};
    std::string d;
    d.reserve(kSize + 32);
    uint64_t s = 2;
    int in_line = 0;
    while (d.size() < kSize) {
      d += kWords[SplitMix64(&s) % kWords.size()];
      d += (++in_line % 14 == 0) ? ".\n" : " ";
    }
    d.resize(kSize);
    return d;
  }();
  return data;
}

}  // namespace ferry::bench
