#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace ferry {

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return FromErrnoWithMessage(err, msg);
}

Status Status::FromErrnoWithMessage(int err, std::string_view message) {
  Code code = Code::kIoError;
  switch (err) {
    case ENOENT:
      code = Code::kNotFound;
      break;
    case ENOSPC:
    case EDQUOT:
      code = Code::kNoSpace;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = Code::kPermissionDenied;
      break;
    case EEXIST:
      code = Code::kAlreadyExists;
      break;
    case EAGAIN:
    case ETIMEDOUT:
    case EINTR:
      code = Code::kUnavailable;
      break;
    case EINVAL:
      code = Code::kInvalidArgument;
      break;
    case ENOSYS:
    case EOPNOTSUPP:
      code = Code::kNotSupported;
      break;
    case ECANCELED:
      code = Code::kCancelled;
      break;
    default:
      break;
  }
  return Status(code, err, message);
}

Status Status::WithNote(std::string_view note) const {
  if (ok()) return *this;
  std::string msg = message_;
  msg += "; ";
  msg += note;
  return Status(code_, errno_, msg);
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, errno_, msg);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "ok";
    case Status::Code::kNotFound:
      return "not found";
    case Status::Code::kAlreadyExists:
      return "already exists";
    case Status::Code::kCorruption:
      return "corruption";
    case Status::Code::kInvalidArgument:
      return "invalid argument";
    case Status::Code::kNotSupported:
      return "not supported";
    case Status::Code::kIoError:
      return "I/O error";
    case Status::Code::kUnavailable:
      return "unavailable";
    case Status::Code::kNoSpace:
      return "no space";
    case Status::Code::kCancelled:
      return "cancelled";
    case Status::Code::kPermissionDenied:
      return "permission denied";
  }
  return "unknown";
}

}  // namespace ferry
