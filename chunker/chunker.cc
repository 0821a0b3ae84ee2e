#include "chunker/chunker.h"

#include <fmt/format.h>

#include "chunker/fastcdc.h"
#include "chunker/fixed.h"

namespace ferry::chunker {

std::string_view AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kFastCdc2020:
      return "fastcdc2020";
    case Algorithm::kFastCdc2016:
      return "fastcdc2016";
    case Algorithm::kFixed:
      return "fixed";
  }
  return "unknown";
}

Result<Algorithm> ParseAlgorithm(std::string_view name) {
  for (Algorithm a : {Algorithm::kFastCdc2020, Algorithm::kFastCdc2016, Algorithm::kFixed}) {
    if (name == AlgorithmName(a)) return a;
  }
  return Err(Status::InvalidArgument(fmt::format(
      "unknown chunking algorithm '{}' (expected fastcdc2020, fastcdc2016 or fixed)", name)));
}

namespace {
Status OutOfBounds(std::string_view what, uint32_t value, uint32_t lo, uint32_t hi) {
  return Status::InvalidArgument(
      fmt::format("chunker {} {} is out of bounds [{}, {}]", what, value, lo, hi));
}
}  // namespace

Status ValidateParams(const Params& p) {
  if (p.algorithm == Algorithm::kFixed) {
    if (p.avg_size < kMinFixedSize || p.avg_size > kMaxFixedSize) {
      return OutOfBounds("fixed chunk size", p.avg_size, kMinFixedSize, kMaxFixedSize);
    }
    return Status();
  }
  if (p.min_size < kMinMinSize || p.min_size > kMaxMinSize) {
    return OutOfBounds("min size", p.min_size, kMinMinSize, kMaxMinSize);
  }
  if (p.avg_size < kMinAvgSize || p.avg_size > kMaxAvgSize) {
    return OutOfBounds("avg size", p.avg_size, kMinAvgSize, kMaxAvgSize);
  }
  if (p.max_size < kMinMaxSize || p.max_size > kMaxMaxSize) {
    return OutOfBounds("max size", p.max_size, kMinMaxSize, kMaxMaxSize);
  }
  if (!(p.min_size < p.avg_size && p.avg_size < p.max_size)) {
    return Status::InvalidArgument(
        fmt::format("chunker sizes must satisfy min < avg < max (got min {}, avg {}, max {})",
                    p.min_size, p.avg_size, p.max_size));
  }
  if (p.level < 0 || p.level > 3) {
    return Status::InvalidArgument(
        fmt::format("chunker normalisation level {} is out of bounds [0, 3]", p.level));
  }
  return Status();
}

Result<std::unique_ptr<Chunker>> MakeChunker(const Params& params) {
  FERRY_RETURN_IF_ERROR(ValidateParams(params));
  if (params.algorithm == Algorithm::kFixed) {
    return std::unique_ptr<Chunker>(std::make_unique<FixedChunker>(params));
  }
  return std::unique_ptr<Chunker>(std::make_unique<FastCdc>(params));
}

}  // namespace ferry::chunker
