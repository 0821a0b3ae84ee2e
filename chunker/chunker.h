// The streaming chunker interface: feed a byte stream in buffers of any size, get cut points.
//
// A Chunker never copies or keeps the data it is fed; it carries only a few words of state from
// one buffer to the next (the running hash, the position within the current chunk and, for
// FastCDC 2020, at most one byte of an unfinished pair). The cut points it reports do not depend
// on how the stream was split into buffers: that is what lets the engine chunk straight out of
// its read buffers.
//
// Thread-safety: a Chunker is used by one thread at a time; create one per stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::chunker {

enum class Algorithm : uint8_t {
  kFastCdc2020,  // FastCDC 2020: normalized chunking, "rolling two bytes" per step.
  kFastCdc2016,  // FastCDC 2016: normalized chunking, one byte per step.
  kFixed,        // Fixed-size chunks of avg_size bytes (the last may be shorter).
};

// "fastcdc2020", "fastcdc2016" or "fixed".
std::string_view AlgorithmName(Algorithm algorithm);
// Parses a name returned by AlgorithmName(). Errors: kInvalidArgument naming the accepted names.
Result<Algorithm> ParseAlgorithm(std::string_view name);

struct Params {
  Algorithm algorithm = Algorithm::kFastCdc2020;
  uint32_t min_size = 64 * 1024;
  uint32_t avg_size = 256 * 1024;  // The chunk size for kFixed.
  uint32_t max_size = 1024 * 1024;
  int level = 1;      // FastCDC normalisation level, 0 (none) to 3.
  uint64_t seed = 0;  // FastCDC: 0 for the published tables, else XORed into them.
};

// Hard bounds of the FastCDC parameters: beyond them the mask table has no entry.
inline constexpr uint32_t kMinMinSize = 64;
inline constexpr uint32_t kMaxMinSize = 1u << 20;
inline constexpr uint32_t kMinAvgSize = 256;
inline constexpr uint32_t kMaxAvgSize = 4u << 20;
inline constexpr uint32_t kMinMaxSize = 1024;
inline constexpr uint32_t kMaxMaxSize = 16u << 20;
inline constexpr uint32_t kMinFixedSize = 512;
inline constexpr uint32_t kMaxFixedSize = 64u << 20;

// Returns OK, or kInvalidArgument with a message naming the parameter at fault and its bounds
// (for FastCDC: min < avg < max, each within the bounds above, level 0–3).
Status ValidateParams(const Params& params);

inline constexpr uint64_t kMaxCutLag = 1;

class Chunker {
 public:
  virtual ~Chunker() = default;

  // Consumes `data`, the next bytes of the stream, and appends to `*cuts` the stream offset at
  // which each chunk that these bytes complete ends (exclusive; so a cut at offset c means the
  // next chunk starts at byte c). Offsets count from the start of the stream (or the last
  // Reset()). `data` need not stay live after the call. Never blocks, never fails.
  //
  // A cut may lie up to kMaxCutLag bytes before data's first byte: FastCDC 2020 tests bytes in
  // pairs, and when a pair straddles two buffers the match on its first byte is only known once
  // the second arrives (at the end of the stream that byte is never tested, as in fastcdc-rs).
  // Callers that consume chunk bytes as they go hold back the last byte of each buffer.
  virtual void Update(ByteView data, std::vector<uint64_t>* cuts) = 0;

  // Ends the stream: appends the end of the last chunk if any byte of it is pending, then starts
  // a new stream at offset 0.
  virtual void Finish(std::vector<uint64_t>* cuts) = 0;

  // Forgets all state and starts a new stream at offset `offset` (so that cut points are
  // reported in the caller's coordinates), as if a chunk had just ended there.
  virtual void Reset(uint64_t offset = 0) = 0;

  virtual const Params& params() const = 0;
};

// Creates a chunker for `params`. Errors: kInvalidArgument from ValidateParams().
Result<std::unique_ptr<Chunker>> MakeChunker(const Params& params);

}  // namespace ferry::chunker
