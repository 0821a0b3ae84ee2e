// Passphrase-based key derivation with scrypt (RFC 7914), for wrapping a repository's master key.
// Thread-safe: no shared state. Blocks for as long as the cost parameters demand (by design).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::codec {

struct ScryptParams {
  uint64_t n = uint64_t{1} << 15;  // CPU/memory cost: a power of two. 2^15 × r 8 = 32 MiB.
  uint32_t r = 8;
  uint32_t p = 1;
};

// Derives `key_size` bytes from `passphrase` and `salt`.
// Errors: kInvalidArgument if n is not a power of two > 1 or the parameters exceed 1 GiB of
// memory; kIoError if OpenSSL fails.
Result<std::string> DeriveKeyScrypt(std::string_view passphrase, ByteView salt,
                                    const ScryptParams& params, size_t key_size);

}  // namespace ferry::codec
