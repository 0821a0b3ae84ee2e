// Cryptographically secure random bytes (OpenSSL's DRBG). Thread-safe.
#pragma once

#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::codec {

// Fills `out`. Errors: kIoError if the generator cannot be seeded.
Status FillRandom(MutableByteView out);
// `n` random bytes.
Result<std::string> RandomString(size_t n);

}  // namespace ferry::codec
