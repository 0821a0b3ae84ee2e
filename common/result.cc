#include "common/result.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ferry::internal {

namespace {
bool TraceEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("FERRY_TRACE_ERRORS");
    return v != nullptr && std::strcmp(v, "0") != 0 && *v != '\0';
  }();
  return enabled;
}
}  // namespace

void LogForwardedError(const char* file, int line, const Status& s) {
  if (!TraceEnabled()) return;
  std::fprintf(stderr, "ferry: %s:%d: forwarding %s\n", file, line, s.ToString().c_str());
}

}  // namespace ferry::internal
