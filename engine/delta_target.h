// What a delta restore may rewrite in place (restore --delta, both layouts): an existing regular
// file or block device, holding the raw volume.
#pragma once

#include <string>

#include <sys/stat.h>

#include "common/status.h"

namespace ferry {

// `st` is the target's stat() when `exists`. Errors: kInvalidArgument for a QCOW2 restore (it
// makes a new image) or a target that is neither a file nor a device; kNotFound when it does not
// exist (nothing to compare with).
Status CheckDeltaTarget(const std::string& path, bool exists, const struct stat& st, bool qcow2);

}  // namespace ferry
