// The allocated ranges of a file, from SEEK_DATA/SEEK_HOLE: a full backup reads only these, and
// records the rest as holes. File systems without SEEK_DATA (and block devices) report the whole
// file as data, which is correct, only slower.
#pragma once

#include <string>

#include "common/result.h"

#include "cbt/extent_list.h"

namespace ferry::cbt {

// Data ranges of the open file `fd` of `size` bytes. Errors: kIoError naming `path`.
Result<ExtentList> AllocatedRanges(int fd, uint64_t size, const std::string& path);

}  // namespace ferry::cbt
