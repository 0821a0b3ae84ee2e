// Reads and writes of a whole buffer on a file descriptor, retrying short transfers and EINTR:
// the loop every module that does plain pread/pwrite (or write to a stream) needs.
#pragma once

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry {

// Reads `dst.size()` bytes at `offset` of `fd`, retrying short reads and EINTR. Returns the bytes
// read: fewer only at end of file. Errors: from pread(2), naming `path` and the offset.
Result<size_t> ReadFullAt(int fd, MutableByteView dst, uint64_t offset, const std::string& path);
// Writes all of `src` at `offset` of `fd`, retrying short writes and EINTR. Errors: from
// pwrite(2) (kNoSpace, kIoError, …), naming `path` and the offset.
Status WriteFullAt(int fd, ByteView src, uint64_t offset, const std::string& path);
// Writes all of `src` to `fd` at its current position (a pipe, standard output), retrying short
// writes and EINTR. Errors: from write(2) (kIoError for a closed pipe, …), naming `path`.
Status WriteFull(int fd, ByteView src, const std::string& path);
// fsyncs the directory `dir`, making the names created, renamed or removed in it durable.
// Errors: from open(2) or fsync(2), naming the directory.
Status FsyncDirectory(const std::string& dir);

}  // namespace ferry
