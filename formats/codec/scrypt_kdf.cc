#include "formats/codec/scrypt_kdf.h"

#include <openssl/evp.h>

namespace ferry::codec {

Result<std::string> DeriveKeyScrypt(std::string_view passphrase, ByteView salt,
                                    const ScryptParams& params, size_t key_size) {
  if (params.n < 2 || (params.n & (params.n - 1)) != 0) {
    return Err(Status::InvalidArgument("scrypt N must be a power of two greater than 1"));
  }
  constexpr uint64_t kMaxMem = uint64_t{1} << 30;
  // scrypt's working set is 128 * r * N bytes (plus 128 * r * p); refuse absurd parameters
  // read from a damaged or hostile key file before OpenSSL tries to allocate them.
  if (params.r == 0 || params.p == 0 || params.r > 64 || params.p > 64 ||
      params.n > kMaxMem / (128 * uint64_t{params.r})) {
    return Err(Status::InvalidArgument("scrypt parameters exceed 1 GiB of memory"));
  }
  std::string key(key_size, '\0');
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), params.n,
                     params.r, params.p, kMaxMem + (1u << 20),
                     reinterpret_cast<unsigned char*>(key.data()), key.size()) != 1) {
    return Err(Status::IoError("scrypt key derivation failed"));
  }
  return key;
}

}  // namespace ferry::codec
