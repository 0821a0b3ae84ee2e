// Block hashes (docs/FORMAT.md §9.1): the XXH3-64 of every fixed-size block of a volume, kept
// with each snapshot so that an incremental backup without change tracking can find what
// changed by hashing the volume and comparing block by block, at memory speed, instead of
// chunking and keyed-hashing all of it. Stored in pages, as chunks, like map pages.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::repo {

inline constexpr uint32_t kDefaultHashBlockSize = 64u << 10;
inline constexpr uint32_t kHashesPerPage = 16384;

// Page plaintext: u32 version (1) | u32 block size | u64 first block | u32 n | n × u64 hash.
std::string EncodeBlockHashPage(uint32_t block_size, uint64_t first_block,
                                std::span<const uint64_t> hashes);

struct BlockHashPage {
  uint32_t block_size = 0;
  uint64_t first_block = 0;
  std::vector<uint64_t> hashes;
};
// Errors: kCorruption naming `what`.
Result<BlockHashPage> DecodeBlockHashPage(std::string_view page, const std::string& what);

}  // namespace ferry::repo
