#include "engine/restore_target.h"

#include <fmt/format.h>

namespace ferry {

Status CheckDeltaTarget(const std::string& path, bool exists, const struct stat& st, bool qcow2) {
  if (qcow2) {
    return Status::InvalidArgument(
        "a delta restore rewrites a raw volume in place; a QCOW2 restore makes a new image");
  }
  if (!exists) return Status::NotFound(path + " does not exist: nothing to compare with");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Status::InvalidArgument(path + " is neither a regular file nor a block device");
  }
  return Status();
}

bool IsStreamTarget(bool exists, const struct stat& st) {
  return exists && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
}

Status CheckNewTarget(const std::string& path, bool exists, const struct stat& st, bool overwrite,
                      bool streams) {
  if (!exists || S_ISBLK(st.st_mode)) return Status();
  if (S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(path + " is a directory: restore to a file or a block device");
  }
  if (IsStreamTarget(exists, st)) {
    if (streams) return Status();
    return Status::InvalidArgument(
        fmt::format("{} is a {}: this restore writes a file or a block device", path,
                    S_ISFIFO(st.st_mode) ? "pipe" : "character device"));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path +
                                   " is neither a file nor a device: restore to a file or a block "
                                   "device");
  }
  if (!overwrite) return Status::AlreadyExists(path + " exists (remove it, or pass --overwrite)");
  return Status();
}

}  // namespace ferry
