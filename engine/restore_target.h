// What a restore may write to (both layouts): a new file, an existing one it may replace, or a
// block device; and what a delta restore may rewrite in place: an existing regular file or block
// device, holding the raw volume.
#pragma once

#include <string>

#include <sys/stat.h>

#include "common/status.h"

namespace ferry {

// `st` is the target's stat() when `exists`. Errors: kInvalidArgument for a QCOW2 restore (it
// makes a new image) or a target that is neither a file nor a device; kNotFound when it does not
// exist (nothing to compare with).
Status CheckDeltaTarget(const std::string& path, bool exists, const struct stat& st, bool qcow2);

// For a restore that writes the volume anew. `st` is the target's stat() when `exists`.
// Errors: kInvalidArgument for a directory; kAlreadyExists for an existing target that is not a
// block device, unless `overwrite`.
Status CheckNewTarget(const std::string& path, bool exists, const struct stat& st, bool overwrite);

}  // namespace ferry
