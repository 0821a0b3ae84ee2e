// ScanChunks: chunk a source and report every chunk (offset, length, XXH3-64) with a summary.
// The job behind `ferry chunk`, and the simplest complete use of reader + chunker.
//
// Like every engine job it never prints: it reports chunks and progress through callbacks and
// stops with kCancelled when its CancelToken is set.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/cancel.h"
#include "common/result.h"

#include "chunker/chunker.h"
#include "engine/progress.h"
#include "engine/sequential_reader.h"

namespace ferry {

struct ChunkRecord {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t xxh3 = 0;
  bool operator==(const ChunkRecord&) const = default;
};

struct ChunkScanSummary {
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  double seconds = 0;           // Wall time of the whole scan (read + chunk + hash).
  std::string backend;          // I/O backend used.
  std::string fallback_reason;  // Why io_uring was not used, if it was not.
};

struct ChunkScanOptions {
  chunker::Params params;
  SequentialReaderOptions reader;
  const CancelToken* cancel = nullptr;  // Optional; must outlive the call.
  ProgressFn progress;                  // Optional; called at most every 100 ms.
};

// Reads `path` ("-" for standard input) to the end and calls `on_chunk` for each chunk in
// order. Blocks. Errors: those of SequentialReader, kInvalidArgument for bad chunker
// parameters, kCancelled.
Result<ChunkScanSummary> ScanChunks(const std::string& path, const ChunkScanOptions& options,
                                    const std::function<void(const ChunkRecord&)>& on_chunk);

}  // namespace ferry
