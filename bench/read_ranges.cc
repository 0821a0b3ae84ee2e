// read_ranges: the physical floor of an incremental backup. Reads the byte ranges of a change
// list from a file or device with the same reader and I/O backend a backup uses (io_uring,
// O_DIRECT, the same read-ahead), discards the bytes, and prints bytes and seconds.
//   read_ranges SOURCE LIST_FILE
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cbt/changed_list.h"
#include "engine/sequential_reader.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: read_ranges SOURCE LIST_FILE\n");
    return 2;
  }
  std::ifstream in(argv[2]);
  std::stringstream text;
  text << in.rdbuf();
  auto list = ferry::cbt::ParseChangeList(text.str(), argv[2]);
  if (!list) {
    std::fprintf(stderr, "read_ranges: %s\n", list.error().ToString().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  auto reader = ferry::SequentialReader::Open(argv[1], {});
  if (!reader) {
    std::fprintf(stderr, "read_ranges: %s\n", reader.error().ToString().c_str());
    return 1;
  }
  // Whole 4 KiB blocks, as O_DIRECT reads them.
  ferry::cbt::ExtentList aligned;
  for (const auto& r : list->ranges) {
    const uint64_t begin = ferry::AlignDown(r.offset, 4096);
    const uint64_t end = std::min(ferry::AlignUp(r.end(), 4096), (*reader)->size());
    aligned.push_back({begin, end - begin});
  }
  (*reader)->SetRanges(ferry::cbt::Normalize(std::move(aligned)));
  uint64_t bytes = 0;
  for (;;) {
    auto b = (*reader)->Next();
    if (!b) {
      std::fprintf(stderr, "read_ranges: %s\n", b.error().ToString().c_str());
      return 1;
    }
    if (b->empty()) break;
    bytes += b->size();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu %.3f %s\n", static_cast<unsigned long long>(bytes), s,
              std::string((*reader)->backend_name()).c_str());
  return 0;
}
