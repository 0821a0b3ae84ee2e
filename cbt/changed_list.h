// Changed-block lists handed to ferry by whatever tracks a volume's changes: a plain text list
// (one "offset length" or "offset,length" per line), or the JSON of the Kubernetes CSI
// SnapshotMetadata GetMetadataDelta response stream. Both become a sorted, merged ExtentList.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

#include "cbt/extent_list.h"

namespace ferry::cbt {

struct ChangedBlocks {
  ExtentList ranges;                    // Sorted, merged, non-empty ranges.
  std::optional<uint64_t> volume_size;  // When the source states it (CSI volume_capacity_bytes).
  // Why the source must not be believed (a QCOW2 bitmap whose writer died, …); `ranges` is then
  // empty and the caller reads everything instead. Empty when the source can be used.
  std::string untrusted;
};

// Sorts `ranges` and merges overlapping or adjacent ones; drops empty ones.
ExtentList Normalize(ExtentList ranges);

// Text: one range per line, "OFFSET LENGTH" or "OFFSET,LENGTH", decimal or 0x-hex; blank lines
// and lines starting with '#' are ignored. Errors: kInvalidArgument naming `what` and the line.
Result<ChangedBlocks> ParseChangeList(std::string_view text, const std::string& what);

// CSI GetMetadataDelta responses as JSON: one response object, an array of them, or a stream
// of them one after another (as a client prints them). Field names in proto form
// (block_metadata, byte_offset, size_bytes, volume_capacity_bytes) or the JSON mapping's
// lowerCamelCase; 64-bit numbers as numbers or decimal strings. Every response must agree on the
// volume capacity; FIXED_LENGTH blocks must all have one size; offsets must ascend without
// overlap. Errors: kInvalidArgument naming `what` and the problem.
Result<ChangedBlocks> ParseCsiDelta(std::string_view json, const std::string& what);

// Checks that `changes` can belong to a volume of `volume_size` bytes: its stated size (if any)
// matches, and no range reaches past the end. Errors: kInvalidArgument naming `what`.
Status ValidateForVolume(const ChangedBlocks& changes, uint64_t volume_size,
                         const std::string& what);

// Total bytes of `ranges`.
uint64_t TotalBytes(const ExtentList& ranges);

}  // namespace ferry::cbt
