// The repository's `config` object (docs/FORMAT.md §3): format version, id, encryption,
// compression, chunker and pack size. Plaintext JSON, authenticated through the key file's
// config_sha256.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

#include "chunker/chunker.h"
#include "formats/repo/ids.h"

namespace ferry::repo {

inline constexpr int kFormatVersion = 1;
inline constexpr uint32_t kDefaultPackSize = 16u << 20;
inline constexpr uint32_t kMaxPackSize = 128u << 20;

// S3 Object Lock (docs/FORMAT.md §15): every object but locks, prune records and indexes is
// retained for `days` from when it is written.
struct ObjectLockSettings {
  uint32_t days = 0;        // 0: off.
  bool governance = false;  // Else compliance mode.
  bool enabled() const { return days != 0; }
};
inline constexpr uint32_t kMaxObjectLockDays = 36500;

struct RepoConfig {
  ObjectId id;
  bool encrypted = true;
  int compression_level = 3;  // zstd level; 0 = no compression.
  // 256 KiB average: chosen by bench/e2e/chunk_sizes.sh (docs/chunking.md, "Defaults").
  chunker::Params chunker{chunker::Algorithm::kFastCdc2020, 64u << 10, 256u << 10, 1u << 20, 1, 0};
  uint32_t pack_size = kDefaultPackSize;
  ObjectLockSettings object_lock;
};

// Canonical JSON bytes of `config` (what is stored and hashed).
std::string EncodeConfig(const RepoConfig& config);
// Parses and validates. Errors: kCorruption naming the field; kNotSupported for another format
// or version.
Result<RepoConfig> DecodeConfig(std::string_view json);

}  // namespace ferry::repo
