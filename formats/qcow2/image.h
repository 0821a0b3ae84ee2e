// A disk image as the guest sees it: a raw file or device, or a QCOW2 image with its chain of
// backing files. Backup reads volumes through this, so `ferry backup disk.qcow2` stores what
// `qemu-img convert -O raw disk.qcow2` would produce.
//
// Thread-safety: one thread at a time per image (QCOW2 caches tables).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "formats/qcow2/image_file.h"

namespace ferry::qcow2 {

class Image {
 public:
  virtual ~Image() = default;
  virtual const std::string& path() const = 0;
  // "raw" or "qcow2".
  virtual std::string_view format() const = 0;
  // Virtual (guest-visible) size in bytes.
  virtual uint64_t size() const = 0;
  // Reads exactly `out.size()` guest bytes at `offset`. REQUIRES: the range lies inside size().
  // Errors: kIoError, kCorruption naming the image and the offset.
  virtual Status Read(MutableByteView out, uint64_t offset) = 0;
  // Guest ranges that may hold data, sorted and merged; everything else reads as zeros.
  virtual Result<cbt::ExtentList> DataRanges() = 0;
};

enum class ImageFormat { kAuto, kRaw, kQcow2 };

// "auto", "raw" or "qcow2". Errors: kInvalidArgument naming the accepted values.
Result<ImageFormat> ParseImageFormat(std::string_view text);

// kQcow2 if `file` starts with the QCOW2 magic, else kRaw. Errors: from reading it.
Result<ImageFormat> ProbeImageFormat(const ImageFile& file);

// Where the backing file `backing` named by the image at `image` is: absolute as given, else
// relative to the directory of `image` (as QEMU resolves it).
std::string ResolveBackingPath(const std::string& image, const std::string& backing);

struct OpenImageOptions {
  ImageFormat format = ImageFormat::kAuto;  // kAuto: QCOW2 if the file starts with its magic.
  unsigned max_chain_depth = 1024;          // Backing files followed at most (loops end here).
};

// Opens `path` and, for QCOW2, its backing chain (names relative to the directory of the image
// that names them; each backing file's format from the backing-format extension, else probed).
// Errors: kNotFound naming a missing backing file and the image that wants it; those of
// ParseHeader; kInvalidArgument for a chain deeper than the limit.
Result<std::unique_ptr<Image>> OpenImage(const std::string& path,
                                         const OpenImageOptions& options = {});

// A raw image: the file's bytes are the guest's. Data ranges come from SEEK_DATA/SEEK_HOLE.
class RawImage final : public Image {
 public:
  explicit RawImage(std::unique_ptr<ImageFile> file) : file_(std::move(file)) {}
  const std::string& path() const override { return file_->path(); }
  std::string_view format() const override { return "raw"; }
  uint64_t size() const override { return file_->size(); }
  Status Read(MutableByteView out, uint64_t offset) override;
  Result<cbt::ExtentList> DataRanges() override;

 private:
  std::unique_ptr<ImageFile> file_;
};

}  // namespace ferry::qcow2
