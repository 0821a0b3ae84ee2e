#include "tools/ferry/chunker_flags.h"

namespace ferry::cli {

void AddChunkerFlags(CLI::App* cmd, const std::string& algorithm_flag,
                     const std::string& avg_default, ChunkerFlags* flags) {
  cmd->add_option(algorithm_flag, flags->algorithm, "fastcdc2020 (default), fastcdc2016 or fixed");
  cmd->add_option("--min", flags->min, "Minimum chunk size in bytes (default avg/4)");
  cmd->add_option(
      "--avg", flags->avg,
      "Average chunk size in bytes (default " + avg_default + "); the chunk size for fixed");
  cmd->add_option("--max", flags->max, "Maximum chunk size in bytes (default avg*4)");
  cmd->add_option("--level", flags->level, "FastCDC normalisation level 0-3 (default 1)");
}

Result<chunker::Params> ChunkerParamsFromFlags(const ChunkerFlags& flags,
                                               const chunker::Params& defaults) {
  chunker::Params p = defaults;
  FERRY_ASSIGN_OR_RETURN(p.algorithm, chunker::ParseAlgorithm(flags.algorithm));
  if (flags.avg != 0) {
    // Unless given, min and max follow the average as FastCDC's authors suggest.
    p.avg_size = flags.avg;
    p.min_size = flags.avg / 4;
    p.max_size = flags.avg * 4;
  }
  if (flags.min != 0) p.min_size = flags.min;
  if (flags.max != 0) p.max_size = flags.max;
  p.level = flags.level;
  FERRY_RETURN_IF_ERROR(chunker::ValidateParams(p));
  return p;
}

}  // namespace ferry::cli
