// Result<T>: a value or the Status that explains why there is none.
//
// Functions return values, not out-parameters. Propagate failures with FERRY_RETURN_IF_ERROR and
// FERRY_ASSIGN_OR_RETURN. With FERRY_TRACE_ERRORS=1 in the environment both log file:line of every
// forwarded error to stderr (as zstd's FORWARD_IF_ERROR does in debug builds); otherwise the
// library never prints.
#pragma once

#include <tl/expected.hpp>

#include "common/status.h"

namespace ferry {

template <class T>
using Result = tl::expected<T, Status>;

// Wraps a failed Status for returning from a function that yields Result<T>.
inline tl::unexpected<Status> Err(Status s) { return tl::unexpected<Status>(std::move(s)); }

namespace internal {
void LogForwardedError(const char* file, int line, const Status& s);

// What the propagation macros return: converts to Status or to any Result<T>, so one macro
// serves functions of either return type.
struct ErrorReturn {
  Status status;
  operator Status() && { return std::move(status); }  // NOLINT(google-explicit-constructor)
  template <class T>
  operator Result<T>() && {  // NOLINT(google-explicit-constructor)
    return tl::unexpected<Status>(std::move(status));
  }
};

inline const Status& StatusOf(const Status& s) { return s; }
template <class T>
const Status& StatusOf(const Result<T>& r) {
  return r.error();
}
template <class T>
bool IsOk(const Result<T>& r) {
  return r.has_value();
}
inline bool IsOk(const Status& s) { return s.ok(); }
}  // namespace internal

}  // namespace ferry

#define FERRY_INTERNAL_LOG_FORWARD(s) ::ferry::internal::LogForwardedError(__FILE__, __LINE__, s)

#define FERRY_INTERNAL_CONCAT2(a, b) a##b
#define FERRY_INTERNAL_CONCAT(a, b) FERRY_INTERNAL_CONCAT2(a, b)

// Returns the Status of `expr` (a Status or a Result) from the enclosing function if it failed.
// Works in functions returning Status or Result<U>.
#define FERRY_RETURN_IF_ERROR(expr)                                                   \
  do {                                                                                \
    auto&& ferry_rie_ = (expr);                                                       \
    if (!::ferry::internal::IsOk(ferry_rie_)) {                                       \
      FERRY_INTERNAL_LOG_FORWARD(::ferry::internal::StatusOf(ferry_rie_));            \
      return ::ferry::internal::ErrorReturn{::ferry::internal::StatusOf(ferry_rie_)}; \
    }                                                                                 \
  } while (0)

// Evaluates `expr` (a Result<T>); on failure returns its Status, otherwise moves the value into
// `lhs` (which may be a declaration: FERRY_ASSIGN_OR_RETURN(auto file, Open(path))).
#define FERRY_ASSIGN_OR_RETURN(lhs, expr) \
  FERRY_INTERNAL_ASSIGN_OR_RETURN(FERRY_INTERNAL_CONCAT(ferry_aor_, __LINE__), lhs, expr)
#define FERRY_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr)            \
  auto tmp = (expr);                                               \
  if (!tmp.has_value()) {                                          \
    FERRY_INTERNAL_LOG_FORWARD(tmp.error());                       \
    return ::ferry::internal::ErrorReturn{std::move(tmp).error()}; \
  }                                                                \
  lhs = std::move(tmp).value()
