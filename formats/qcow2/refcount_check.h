// An independent check of a QCOW2 image's refcounts, as `qemu-img check` does it: count the
// references every host cluster should have (header, tables, L2 tables, data and compressed
// clusters, bitmap metadata) and compare them with the refcount blocks. ferry's tests use it
// beside qemu-img to judge the images ferry writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

#include "formats/qcow2/qcow2_image.h"

namespace ferry::qcow2 {

struct RefcountReport {
  uint64_t clusters_checked = 0;
  uint64_t leaks = 0;   // Clusters counted but referenced by nothing.
  uint64_t errors = 0;  // Clusters referenced more (or less, but not zero) than counted.
  std::vector<std::string> problems;  // The first few, for messages.
  bool clean() const { return leaks == 0 && errors == 0; }
};

// Checks the refcounts of `image` (this image only, not its backing chain). Errors:
// kNotSupported for internal snapshots (their tables are not walked); kCorruption for
// refcount or L1/L2 structures that cannot be read.
Result<RefcountReport> CheckRefcounts(Qcow2Image& image);

}  // namespace ferry::qcow2
