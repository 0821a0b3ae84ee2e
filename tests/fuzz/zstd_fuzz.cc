// zstd fuzz target: decoding arbitrary bytes into a buffer of a claimed size must fail cleanly
// or fill exactly that size (never write past it, never allocate from a forged header), and
// compressing any input must round-trip and be deterministic (dedup relies on that).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/codec/zstd_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ferry::codec::ZstdDecompressor dec;
  static auto comp = ferry::codec::ZstdCompressor::Create(3).value();
  if (size < 2) return 0;
  // Avoid self-made decompression bombs: the claimed size is at most 64 KiB.
  const size_t claimed = (size_t{data[0]} << 8 | data[1]) + 1;
  const ferry::ByteView body{reinterpret_cast<const std::byte*>(data + 2), size - 2};
  std::string out(claimed, '\0');
  (void)dec.Decompress(body, {reinterpret_cast<std::byte*>(out.data()), out.size()});

  std::string packed(ferry::codec::ZstdCompressor::MaxOutputSize(body.size()), '\0');
  std::string packed2 = packed;
  auto r = comp->Compress(body, {reinterpret_cast<std::byte*>(packed.data()), packed.size()});
  auto r2 = comp->Compress(body, {reinterpret_cast<std::byte*>(packed2.data()), packed2.size()});
  if (!r || !r2 || r->stored_raw != r2->stored_raw || r->size != r2->size ||
      packed.compare(0, r->size, packed2, 0, r2->size) != 0) {
    std::abort();
  }
  if (!r->stored_raw) {
    std::string back(body.size(), '\0');
    if (!dec.Decompress({reinterpret_cast<const std::byte*>(packed.data()), r->size},
                        {reinterpret_cast<std::byte*>(back.data()), back.size()})
             .ok() ||
        back.compare(0, back.size(), reinterpret_cast<const char*>(body.data()), body.size()) !=
            0) {
      std::abort();
    }
  }
  return 0;
}
