#include "cbt/fiemap.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ferry::cbt {

namespace {

constexpr uint32_t kUncomparable = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                                   FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE |
                                   FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_NOT_ALIGNED;

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::vector<PhysicalExtent>> ReadFiemap(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return Err(Status::FromErrno(errno, "open " + path));
  constexpr unsigned kBatch = 512;
  std::vector<uint64_t> storage((sizeof(fiemap) + kBatch * sizeof(fiemap_extent)) / 8 + 1);
  auto* fm = reinterpret_cast<fiemap*>(storage.data());
  std::vector<PhysicalExtent> out;
  uint64_t start = 0;
  for (bool last = false; !last;) {
    std::memset(fm, 0, sizeof(fiemap));
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kBatch;
    if (::ioctl(f.fd, FS_IOC_FIEMAP, fm) != 0) {
      if (errno == EOPNOTSUPP || errno == ENOTTY) {
        return Err(Status::NotSupported(
            path + ": the file system has no FIEMAP; use another change source"));
      }
      return Err(Status::FromErrno(errno, "FIEMAP " + path));
    }
    if (fm->fm_mapped_extents == 0) break;
    for (uint32_t i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      out.push_back({e.fe_logical, e.fe_physical, e.fe_length, (e.fe_flags & kUncomparable) == 0});
      if (e.fe_flags & FIEMAP_EXTENT_LAST) last = true;
      start = e.fe_logical + e.fe_length;
    }
  }
  return out;
}

ExtentList CompareExtentMaps(const std::vector<PhysicalExtent>& previous,
                             const std::vector<PhysicalExtent>& current, uint64_t current_size) {
  // Sweep the boundaries of both maps; between two boundaries each side is one extent or a hole.
  std::vector<uint64_t> cuts = {0, current_size};
  for (const auto* map : {&previous, &current}) {
    for (const PhysicalExtent& e : *map) {
      cuts.push_back(std::min(e.logical, current_size));
      cuts.push_back(std::min(e.logical + e.length, current_size));
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  // The extent of `map` covering `at`, or null (a hole). Maps are sorted by logical offset.
  auto find = [](const std::vector<PhysicalExtent>& map, uint64_t at) -> const PhysicalExtent* {
    auto it = std::upper_bound(map.begin(), map.end(), at,
                               [](uint64_t v, const PhysicalExtent& e) { return v < e.logical; });
    if (it == map.begin()) return nullptr;
    --it;
    return at < it->logical + it->length ? &*it : nullptr;
  };
  ExtentList changed;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const uint64_t at = cuts[i], end = cuts[i + 1];
    if (at >= current_size) break;
    const PhysicalExtent* a = find(previous, at);
    const PhysicalExtent* b = find(current, at);
    bool same = a == nullptr && b == nullptr;
    if (a != nullptr && b != nullptr && a->comparable && b->comparable) {
      same = a->physical + (at - a->logical) == b->physical + (at - b->logical);
    }
    if (!same) changed.push_back({at, end - at});
  }
  return Normalize(std::move(changed));
}

Result<ChangedBlocks> FiemapChanges(const std::string& current, const std::string& previous) {
  struct stat cur {
  }, prev{};
  if (::stat(current.c_str(), &cur) != 0) return Err(Status::FromErrno(errno, "stat " + current));
  if (::stat(previous.c_str(), &prev) != 0) {
    return Err(Status::FromErrno(errno, "stat " + previous));
  }
  if (cur.st_dev != prev.st_dev) {
    return Err(Status::InvalidArgument(fmt::format(
        "fiemap:{}: it is on another file system than {}; physical extents cannot be compared",
        previous, current)));
  }
  FERRY_ASSIGN_OR_RETURN(auto before, ReadFiemap(previous));
  FERRY_ASSIGN_OR_RETURN(auto after, ReadFiemap(current));
  ChangedBlocks out;
  out.ranges = CompareExtentMaps(before, after, static_cast<uint64_t>(cur.st_size));
  out.volume_size = static_cast<uint64_t>(cur.st_size);
  return out;
}

}  // namespace ferry::cbt
