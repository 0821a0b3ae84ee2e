// Volume maps (docs/FORMAT.md §9): the extents that tile a volume, cut into pages by offset so
// an unchanged page of a later backup is the same chunk and is not stored again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

#include "formats/codec/chunk_id.h"

namespace ferry::repo {

enum class ExtentKind : uint8_t { kChunk = 0, kZeros = 1, kHole = 2 };

struct Extent {
  uint64_t offset = 0;
  uint32_t length = 0;
  ExtentKind kind = ExtentKind::kChunk;
  codec::ChunkId id;  // For kChunk.
  bool operator==(const Extent&) const = default;
};

inline constexpr uint64_t kDefaultPageSize = uint64_t{1} << 30;

std::string EncodeMapPage(const std::vector<Extent>& extents);
// Errors: kCorruption naming `what`.
Result<std::vector<Extent>> DecodeMapPage(std::string_view page, const std::string& what);

// Checks that `extents` (all pages, concatenated in order) tile [0, size) exactly.
Status CheckTiling(const std::vector<Extent>& extents, uint64_t size, const std::string& what);

}  // namespace ferry::repo
