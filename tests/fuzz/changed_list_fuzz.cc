// Changed-block list fuzz target: the text list and the CSI JSON parsers take any bytes; they
// must fail cleanly or return sorted, merged, non-empty ranges that never overflow.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cbt/changed_list.h"

namespace {

void CheckNormalized(const ferry::cbt::ExtentList& ranges) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].length == 0 || ranges[i].end() < ranges[i].offset) std::abort();
    if (i > 0 && ranges[i].offset <= ranges[i - 1].end()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto r = ferry::cbt::ParseChangeList(text, "fuzz")) CheckNormalized(r->ranges);
  if (auto r = ferry::cbt::ParseCsiDelta(text, "fuzz")) {
    CheckNormalized(r->ranges);
    if (r->volume_size) (void)ferry::cbt::ValidateForVolume(*r, *r->volume_size, "fuzz");
  }
  return 0;
}
