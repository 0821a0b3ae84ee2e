// The chunker flags shared by `ferry chunk` and `ferry init`: --algo/--chunker, --min, --avg,
// --max, --level, turned into validated chunker parameters.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "common/result.h"

#include "chunker/chunker.h"

namespace ferry::cli {

struct ChunkerFlags {
  std::string algorithm = "fastcdc2020";
  uint32_t min = 0, avg = 0, max = 0;  // 0: the default (min and max follow avg: avg/4, avg*4).
  int level = 1;
};

// Adds `algorithm_flag` (--algo or --chunker), --min, --avg, --max and --level to `cmd`;
// `avg_default` is shown in the help.
void AddChunkerFlags(CLI::App* cmd, const std::string& algorithm_flag,
                     const std::string& avg_default, ChunkerFlags* flags);

// Starts from `defaults`; errors: kInvalidArgument naming the flag or the bound at fault.
Result<chunker::Params> ChunkerParamsFromFlags(const ChunkerFlags& flags,
                                               const chunker::Params& defaults);

}  // namespace ferry::cli
