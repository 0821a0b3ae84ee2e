// Settings read from the environment, for knobs that tests and operators turn without a flag
// (lock timings, the NBD answer timeout).
#pragma once

#include <chrono>

namespace ferry {

// The positive whole number of seconds in environment variable `name`, or `fallback` when it
// is unset, empty, not a number or not positive.
std::chrono::seconds SecondsFromEnv(const char* name, std::chrono::seconds fallback);

}  // namespace ferry
