#include "formats/codec/secure_random.h"

#include <climits>

#include <openssl/rand.h>

namespace ferry::codec {

Status FillRandom(MutableByteView out) {
  size_t done = 0;
  while (done < out.size()) {
    const size_t n = std::min(out.size() - done, static_cast<size_t>(INT_MAX));
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), static_cast<int>(n)) != 1) {
      return Status::IoError("the random generator failed");
    }
    done += n;
  }
  return Status();
}

Result<std::string> RandomString(size_t n) {
  std::string s(n, '\0');
  FERRY_RETURN_IF_ERROR(FillRandom({reinterpret_cast<std::byte*>(s.data()), s.size()}));
  return s;
}

}  // namespace ferry::codec
