// Terminal output helpers for the ferry CLI: human-readable sizes and rates, and a progress line
// that is drawn only when standard error is a terminal.
#pragma once

#include <cstdint>
#include <string>

#include "engine/progress.h"

namespace ferry::cli {

// "1.50 GiB", "512 B".
std::string HumanBytes(double bytes);
// "1.23 GiB/s".
std::string HumanRate(double bytes, double seconds);

// Draws "\r<done> / <total>  <rate>  ETA <s>" on stderr when it is a TTY; clears it on done.
class ProgressLine {
 public:
  ProgressLine();
  void Update(const Progress& p);

 private:
  bool enabled_;
};

}  // namespace ferry::cli
