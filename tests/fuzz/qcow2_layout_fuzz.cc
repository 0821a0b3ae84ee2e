// qcow2 layout fuzz target: `config` and sidecars are read from a directory anyone may have
// edited. Any bytes must either fail cleanly or decode to a value that encodes and decodes back
// to itself.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "formats/qcow2_layout/layout_format.h"

namespace ql = ferry::qcow2_layout;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto c = ql::DecodeConfig(text)) {
    auto again = ql::DecodeConfig(ql::EncodeConfig(*c));
    if (!again || again->id != c->id || again->cluster_bits != c->cluster_bits ||
        again->compression != c->compression || again->full_every != c->full_every) {
      std::abort();
    }
  }
  (void)ql::IsLayoutConfig(text);
  const std::string name = std::string(32, 'a') + ".json";  // The seeds' sidecars use this id.
  if (auto s = ql::DecodeSidecar(text, name)) {
    auto again = ql::DecodeSidecar(ql::EncodeSidecar(*s), name);
    if (!again || !(*again == *s)) std::abort();
  }
  return 0;
}
