#include "tests/testutil/testutil.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/splitmix64.h"

namespace ferry::testing {

std::filesystem::path DataPath(const std::string& rel) {
  const char* root = std::getenv("FERRY_TEST_DATA");
  std::filesystem::path base = root != nullptr ? root : FERRY_SOURCE_DIR "/tests/data";
  return base / rel;
}

void WriteFileOrDie(const std::filesystem::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

void WriteFileWrittenAgo(const std::filesystem::path& path, size_t size, std::chrono::seconds age) {
  std::filesystem::create_directories(path.parent_path());
  WriteFileOrDie(path, std::string(size, 'x'));
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now() - age);
}

bool HasProgram(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

std::string RunOrFail(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run: " << command;
    return output;
  }
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  if (status != 0) ADD_FAILURE() << "command failed (status " << status << "): " << command;
  return output;
}

std::string ReadFileOrDie(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t state = seed;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = SplitMix64(&state);
    for (size_t k = 0; k < 8; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  const uint64_t v = SplitMix64(&state);
  for (size_t k = 0; i < n; ++i, ++k) out[i] = static_cast<char>(v >> (8 * k));
  return out;
}

std::string PseudoText(size_t n, uint64_t seed) {
  static const std::array<const char*, 32> kWords = {
      "the",    "volume",  "backup", "of",       "a",       "snapshot",   "is",    "restored",
      "block",  "changed", "and",    "written",  "to",      "repository", "chunk", "with",
      "index",  "pack",    "data",   "for",      "server",  "in",         "file",  "system",
      "record", "time",    "host",   "database", "replica", "site",       "every", "night"};
  std::string out;
  out.reserve(n + 16);
  uint64_t state = seed;
  size_t words_in_line = 0;
  while (out.size() < n) {
    const uint64_t r = SplitMix64(&state);
    out += kWords[r % kWords.size()];
    if (++words_in_line == 12) {
      out += ".\n";
      words_in_line = 0;
    } else {
      out += ' ';
    }
  }
  out.resize(n);
  return out;
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/ferry-test-XXXXXX";
  char* made = mkdtemp(templ.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << templ;
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

}  // namespace ferry::testing
