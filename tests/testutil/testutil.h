// Helpers shared by tests: test data location, deterministic data generators, temp dirs.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ferry::testing {

// The directory holding tests/data (from FERRY_TEST_DATA, set by CTest), with `rel` appended.
std::filesystem::path DataPath(const std::string& rel);

// Reads a whole file; fails the current test (and returns empty) if it cannot.
std::string ReadFileOrDie(const std::filesystem::path& path);

// Deterministic pseudo-random bytes (splitmix64 stream from `seed`).
std::string RandomBytes(size_t n, uint64_t seed);

// Deterministic English-like text: words from a fixed list, chosen by a seeded generator.
std::string PseudoText(size_t n, uint64_t seed);

// Writes `data` to `path`; fails the current test if it cannot.
void WriteFileOrDie(const std::filesystem::path& path, const std::string& data);

// A file of `size` bytes at `path` (directories made as needed) last written `age` ago: what a
// writer killed long ago leaves behind.
void WriteFileWrittenAgo(const std::filesystem::path& path, size_t size, std::chrono::seconds age);

// True if `program` is on PATH (tests of the real tools skip without them, saying so).
bool HasProgram(const std::string& program);

// Runs `command` with /bin/sh and returns what it printed on stdout; fails the current test
// (naming the command and its exit status) unless it exits 0.
std::string RunOrFail(const std::string& command);

// A fresh, empty directory under TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ferry::testing
