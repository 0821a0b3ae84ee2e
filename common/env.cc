#include "common/env.h"

#include <cstdlib>

namespace ferry {

std::chrono::seconds SecondsFromEnv(const char* name, std::chrono::seconds fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n <= 0) return fallback;
  return std::chrono::seconds(n);
}

}  // namespace ferry
