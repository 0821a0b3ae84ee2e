#include "formats/qcow2/image_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"

namespace ferry::qcow2 {

namespace {

class FdImageFile final : public ImageFile {
 public:
  FdImageFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~FdImageFile() override { ::close(fd_); }
  FdImageFile(const FdImageFile&) = delete;
  FdImageFile& operator=(const FdImageFile&) = delete;

  const std::string& path() const override { return path_; }
  uint64_t size() const override { return size_; }
  Result<size_t> ReadAt(MutableByteView dst, uint64_t offset) const override {
    return ReadFullAt(fd_, dst, offset, path_);
  }
  int fd() const override { return fd_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class MemoryFile final : public ImageFile {
 public:
  MemoryFile(std::string bytes, std::string name)
      : bytes_(std::move(bytes)), name_(std::move(name)) {}
  const std::string& path() const override { return name_; }
  uint64_t size() const override { return bytes_.size(); }
  Result<size_t> ReadAt(MutableByteView dst, uint64_t offset) const override {
    if (offset >= bytes_.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(dst.size(), bytes_.size() - offset);
    std::memcpy(dst.data(), bytes_.data() + offset, n);
    return n;
  }

 private:
  std::string bytes_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<ImageFile>> OpenImageFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Err(Status::FromErrno(errno, "open " + path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Err(Status::FromErrno(e, "stat " + path));
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    const off_t end = ::lseek(fd, 0, SEEK_END);
    size = end > 0 ? static_cast<uint64_t>(end) : 0;
  } else if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Err(Status::InvalidArgument(path + ": not a regular file or block device"));
  }
  return std::unique_ptr<ImageFile>(new FdImageFile(path, fd, size));
}

std::unique_ptr<ImageFile> MemoryImageFile(std::string bytes, std::string name) {
  return std::make_unique<MemoryFile>(std::move(bytes), std::move(name));
}

}  // namespace ferry::qcow2
