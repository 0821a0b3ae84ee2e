#include "tools/ferry/terminal.h"

#include <cstdio>

#include <fmt/format.h>
#include <unistd.h>

namespace ferry::cli {

std::string HumanBytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.2f} {}", bytes, kUnits[unit]);
}

std::string HumanRate(double bytes, double seconds) {
  if (seconds <= 0) return "-";
  return HumanBytes(bytes / seconds) + "/s";
}

ProgressLine::ProgressLine() : enabled_(isatty(STDERR_FILENO) == 1) {}

void ProgressLine::Update(const Progress& p) {
  if (!enabled_) return;
  if (p.done) {
    std::fputs("\r\033[K", stderr);
    return;
  }
  std::string line = HumanBytes(static_cast<double>(p.bytes_done));
  if (p.bytes_total > 0) {
    line +=
        fmt::format(" / {} ({:.0f}%)", HumanBytes(static_cast<double>(p.bytes_total)),
                    100.0 * static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total));
  }
  line += "  " + HumanRate(static_cast<double>(p.bytes_done), p.seconds);
  if (p.bytes_total > p.bytes_done && p.bytes_done > 0 && p.seconds > 0) {
    const double rate = static_cast<double>(p.bytes_done) / p.seconds;
    line += fmt::format("  ETA {:.0f}s", static_cast<double>(p.bytes_total - p.bytes_done) / rate);
  }
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

}  // namespace ferry::cli
