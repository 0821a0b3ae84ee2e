// AES-256-GCM fuzz target: opening arbitrary bytes must fail cleanly (never crash, never succeed
// without the key), and sealing then opening any input must round-trip. Opening is what reads
// untrusted bytes from storage.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/codec/aes_gcm.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto gcm = ferry::codec::Aes256Gcm::Create(ferry::AsBytes(std::string(32, 'f'))).value();
  const ferry::ByteView in{reinterpret_cast<const std::byte*>(data), size};
  const std::string aad = "fuzz";
  std::string out(size, '\0');
  ferry::MutableByteView out_view{reinterpret_cast<std::byte*>(out.data()), out.size()};
  auto opened = gcm->Open(ferry::AsBytes(aad), in, out_view);
  if (opened.has_value()) std::abort();  // A forgery: 2^-128 by chance, so a bug.

  std::string sealed(ferry::codec::Aes256Gcm::SealedSize(size), '\0');
  ferry::MutableByteView sealed_view{reinterpret_cast<std::byte*>(sealed.data()), sealed.size()};
  if (!gcm->Seal(ferry::AsBytes(aad), in, sealed_view).has_value()) std::abort();
  auto back = gcm->Open(ferry::AsBytes(aad), ferry::AsBytes(sealed), out_view);
  if (!back.has_value() || *back != size ||
      (size > 0 && out != std::string(reinterpret_cast<const char*>(data), size))) {
    std::abort();
  }
  return 0;
}
