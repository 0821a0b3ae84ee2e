// Fixed benchmark inputs, generated deterministically once per process (snappy's habit: the
// same bytes every run, set up outside the timed loop).
#pragma once

#include <string>

namespace ferry::bench {

// 64 MiB of pseudo-random bytes (incompressible, like compressed or encrypted files).
const std::string& RandomData();
// 64 MiB of English-like text (compressible, like logs and source).
const std::string& TextData();

}  // namespace ferry::bench
