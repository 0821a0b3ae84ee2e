// Status: the outcome of an operation that may fail.
//
// A Status holds a code, the errno that caused it (0 if none) and a message with context (the
// object name, offset or parameter at fault). OK is the default-constructed value. Errors are
// values: ferry throws no exceptions, and callers either handle a Status or return it.
//
// Thread-safety: a Status is a plain value; distinct objects may be used from distinct threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace ferry {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,
    kAlreadyExists,
    kCorruption,
    kInvalidArgument,
    kNotSupported,
    kIoError,
    kUnavailable,  // Retryable: a timeout, a busy server, a throttled request.
    kNoSpace,
    kCancelled,
    kPermissionDenied,
  };

  Status() = default;

  static Status NotFound(std::string_view msg) { return {Code::kNotFound, 0, msg}; }
  static Status AlreadyExists(std::string_view msg) { return {Code::kAlreadyExists, 0, msg}; }
  static Status Corruption(std::string_view msg) { return {Code::kCorruption, 0, msg}; }
  static Status InvalidArgument(std::string_view msg) { return {Code::kInvalidArgument, 0, msg}; }
  static Status NotSupported(std::string_view msg) { return {Code::kNotSupported, 0, msg}; }
  static Status IoError(std::string_view msg) { return {Code::kIoError, 0, msg}; }
  static Status Unavailable(std::string_view msg) { return {Code::kUnavailable, 0, msg}; }
  static Status NoSpace(std::string_view msg) { return {Code::kNoSpace, 0, msg}; }
  static Status Cancelled(std::string_view msg) { return {Code::kCancelled, 0, msg}; }
  static Status PermissionDenied(std::string_view msg) { return {Code::kPermissionDenied, 0, msg}; }

  // Maps an errno to a code (ENOENT → kNotFound, ENOSPC/EDQUOT → kNoSpace, EACCES/EPERM →
  // kPermissionDenied, EEXIST → kAlreadyExists, EAGAIN/ETIMEDOUT → kUnavailable, else kIoError)
  // and keeps the number. The message reads "<context>: <strerror>".
  static Status FromErrno(int err, std::string_view context);
  // The code FromErrno gives `err`, with `message` as it is (for libraries, such as libnfs,
  // whose own words describe the failure better than strerror).
  static Status FromErrnoWithMessage(int err, std::string_view message);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int errno_value() const { return errno_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  bool IsCancelled() const { return code_ == Code::kCancelled; }
  // True for failures that may succeed when tried again (timeouts, throttling, EAGAIN).
  bool IsRetryable() const { return code_ == Code::kUnavailable; }

  // Returns a copy whose message is "<context>: <message>", for adding the caller's view.
  Status WithContext(std::string_view context) const;
  // Returns a copy whose message is "<message>; <note>", for what the caller did about it.
  Status WithNote(std::string_view note) const;

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(Code code, int err, std::string_view msg) : code_(code), errno_(err), message_(msg) {}

  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string message_;
};

// The stable, lower-case name of a code ("not found", "corruption", …).
std::string_view CodeName(Status::Code code);

}  // namespace ferry
