// Chunk ids: HMAC-SHA-256 of a chunk's plaintext under the repository's id-key.
//
// Keyed ids stop anyone without the key from confirming that a repository holds a known file
// (unkeyed hashes would leak that). OpenSSL picks the SHA-NI code path when the CPU has it.
//
// Thread-safety: a ChunkIdHasher is used by one thread at a time (it reuses its OpenSSL
// contexts between chunks); create one per worker. ChunkId is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::codec {

inline constexpr size_t kChunkIdSize = 32;

struct ChunkId {
  std::array<uint8_t, kChunkIdSize> bytes{};

  bool operator==(const ChunkId&) const = default;
  auto operator<=>(const ChunkId&) const = default;
  std::string ToHex() const;
  ByteView view() const { return {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}; }
};

class ChunkIdHasher {
 public:
  // Creates a hasher for `key` (any length; the repository uses 32 random bytes).
  // Errors: kInvalidArgument for an empty key; kIoError if OpenSSL cannot set up HMAC.
  static Result<std::unique_ptr<ChunkIdHasher>> Create(ByteView key);
  ~ChunkIdHasher();
  ChunkIdHasher(const ChunkIdHasher&) = delete;
  ChunkIdHasher& operator=(const ChunkIdHasher&) = delete;

  // HMAC-SHA-256(key, data). Never allocates after Create(); never blocks.
  ChunkId Hash(ByteView data);

  // ids[i] = Hash(data[i]) for every i, computed several messages at a time where the CPU
  // allows (sha256_pair.h): nearly twice Hash()'s throughput with SHA-NI.
  // `ids` must be as long as `data`. Never allocates; never blocks.
  void HashMany(std::span<const ByteView> data, std::span<ChunkId> ids);

 private:
  struct Impl;
  explicit ChunkIdHasher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::codec
