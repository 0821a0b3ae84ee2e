// Random access to the bytes of an image file: a real file (pread) or bytes in memory (fuzzing,
// tests). The QCOW2 reader sees files only through this.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::qcow2 {

class ImageFile {
 public:
  virtual ~ImageFile() = default;
  virtual const std::string& path() const = 0;
  virtual uint64_t size() const = 0;
  // Reads up to `dst.size()` bytes at `offset`; fewer only at the end of the file. Safe to call
  // from several threads. Errors: kIoError naming the path and offset.
  virtual Result<size_t> ReadAt(MutableByteView dst, uint64_t offset) const = 0;
  // The descriptor of a real file (for SEEK_DATA), else -1.
  virtual int fd() const { return -1; }
};

// Opens `path` read-only. Errors: kNotFound / kPermissionDenied naming it.
Result<std::unique_ptr<ImageFile>> OpenImageFile(const std::string& path);
// An image held in memory under the name `name`.
std::unique_ptr<ImageFile> MemoryImageFile(std::string bytes, std::string name);

}  // namespace ferry::qcow2
