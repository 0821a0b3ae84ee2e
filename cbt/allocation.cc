#include "cbt/allocation.h"

#include <cerrno>

#include <unistd.h>

namespace ferry::cbt {

Result<ExtentList> AllocatedRanges(int fd, uint64_t size, const std::string& path) {
  ExtentList out;
  off_t at = 0;
  const auto end = static_cast<off_t>(size);
  while (at < end) {
    const off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // No data after `at`: the rest is a hole.
      if (errno == EINVAL || errno == EOPNOTSUPP) {
        out.push_back({static_cast<uint64_t>(at), size - static_cast<uint64_t>(at)});
        break;
      }
      return Err(Status::FromErrno(errno, "SEEK_DATA " + path));
    }
    if (data >= end) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Err(Status::FromErrno(errno, "SEEK_HOLE " + path));
    if (hole > end) hole = end;
    out.push_back({static_cast<uint64_t>(data), static_cast<uint64_t>(hole - data)});
    at = hole;
  }
  return out;
}

}  // namespace ferry::cbt
