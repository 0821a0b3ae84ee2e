// What a restore may write to (both layouts): a new file, an existing one it may replace, a
// block device, or (where the restore can write in order) a pipe or character device; and what a
// delta restore may rewrite in place: an existing regular file or block device, holding the raw
// volume.
#pragma once

#include <string>

#include <sys/stat.h>

#include "common/cancel.h"
#include "common/result.h"
#include "common/status.h"

#include "engine/io/file_handle.h"

namespace ferry {

// `st` is the target's stat() when `exists`. Errors: kInvalidArgument for a QCOW2 restore (it
// makes a new image) or a target that is neither a file nor a device; kNotFound when it does not
// exist (nothing to compare with).
Status CheckDeltaTarget(const std::string& path, bool exists, const struct stat& st, bool qcow2);

// Whether an existing target takes the volume as a stream, in order, never sought, resized nor
// replaced: a pipe or a character device (/dev/null, a tape). Standard output ("-") is one too.
bool IsStreamTarget(bool exists, const struct stat& st);

// Opens a stream target for writing only: a reader that goes away then ends the restore (EPIPE,
// or SIGPIPE where it is not ignored) rather than leaving it writing into a pipe nobody reads.
// A pipe opens once something reads it; until then this waits, and gives up with kCancelled
// when `cancel` (may be null) says so — a plain open would wait deaf to it.
Result<io::FileHandle> OpenStreamTarget(const std::string& path, const CancelToken* cancel);

// For a restore that writes the volume anew into a file or block device (one that can write a
// stream tells stream targets apart first, with IsStreamTarget). `st` is the target's stat()
// when `exists`. Errors: kInvalidArgument for a directory, a stream target, or anything else
// that is neither a regular file nor a block device (nothing but a regular file is ever
// replaced); kAlreadyExists for an existing regular file, unless `overwrite`.
Status CheckNewTarget(const std::string& path, bool exists, const struct stat& st, bool overwrite);

}  // namespace ferry
