// The repository's `config` object (docs/FORMAT.md §3): format version, id, encryption,
// compression, chunker and pack size. Plaintext JSON, authenticated through the key file's
// config_sha256.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

#include "chunker/chunker.h"
#include "formats/repo/ids.h"

namespace ferry::repo {

inline constexpr int kFormatVersion = 1;
inline constexpr uint32_t kDefaultPackSize = 16u << 20;
inline constexpr uint32_t kMaxPackSize = 128u << 20;
inline constexpr int kMaxCompressionLevel = 19;  // zstd's highest without --ultra.
inline constexpr int kDefaultIncrementalCompressionLevel = 1;

// OK for 0 (store uncompressed) to kMaxCompressionLevel; else kInvalidArgument "`what` N is out
// of range: …".
Status ValidateCompressionLevel(int level, std::string_view what);

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
  // The level for backups with a parent, whose cost should follow what changed; unset (configs
  // written before it existed): compression_level.
  std::optional<int> incremental_compression_level;
  // 256 KiB average: chosen by bench/e2e/chunk_sizes.sh (docs/chunking.md, "Defaults").
  chunker::Params chunker{chunker::Algorithm::kFastCdc2020, 64u << 10, 256u << 10, 1u << 20, 1, 0};
  uint32_t pack_size = kDefaultPackSize;
  ObjectLockSettings object_lock;

  int IncrementalCompressionLevel() const {
    return incremental_compression_level.value_or(compression_level);
  }
};

// Canonical JSON bytes of `config` (what is stored and hashed).
std::string EncodeConfig(const RepoConfig& config);
// Parses and validates. Errors: kCorruption naming the field; kNotSupported for another format
// or version.
Result<RepoConfig> DecodeConfig(std::string_view json);

}  // namespace ferry::repo
