#include "formats/qcow2/image.h"

#include <cstring>

#include <fmt/format.h>

#include "cbt/allocation.h"
#include "formats/qcow2/qcow2_image.h"

namespace ferry::qcow2 {

Status RawImage::Read(MutableByteView out, uint64_t offset) {
  FERRY_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(out, offset));
  if (n != out.size()) {
    return Status::IoError(
        fmt::format("read {} at offset {}: the file ended early (it shrank?)", path(), offset + n));
  }
  return Status();
}

Result<cbt::ExtentList> RawImage::DataRanges() {
  if (file_->fd() < 0) return cbt::ExtentList{{0, size()}};
  return cbt::AllocatedRanges(file_->fd(), size(), path());
}

Result<ImageFormat> ParseImageFormat(std::string_view text) {
  if (text == "auto") return ImageFormat::kAuto;
  if (text == "raw") return ImageFormat::kRaw;
  if (text == "qcow2") return ImageFormat::kQcow2;
  return Err(
      Status::InvalidArgument(fmt::format("image format '{}': expected auto, raw or qcow2", text)));
}

Result<ImageFormat> ProbeImageFormat(const ImageFile& file) {
  std::byte magic[4] = {};
  FERRY_ASSIGN_OR_RETURN(size_t n, file.ReadAt(magic, 0));
  return HasQcow2Magic(ByteView(magic, n)) ? ImageFormat::kQcow2 : ImageFormat::kRaw;
}

std::string ResolveBackingPath(const std::string& image, const std::string& backing) {
  if (backing.starts_with('/')) return backing;
  const size_t slash = image.rfind('/');
  return slash == std::string::npos ? backing : image.substr(0, slash + 1) + backing;
}

namespace {

Result<std::unique_ptr<Image>> OpenChain(const std::string& path, ImageFormat format,
                                         const OpenImageOptions& options, unsigned depth,
                                         const std::string& wanted_by) {
  auto file = OpenImageFile(path);
  if (!file) {
    if (wanted_by.empty()) return Err(file.error());
    return Err(file.error().WithContext("backing file of " + wanted_by));
  }
  if (format == ImageFormat::kAuto) {
    FERRY_ASSIGN_OR_RETURN(format, ProbeImageFormat(**file));
  }
  if (format == ImageFormat::kRaw) return std::unique_ptr<Image>(new RawImage(std::move(*file)));

  FERRY_ASSIGN_OR_RETURN(auto image, Qcow2Image::Open(std::move(*file)));
  const Header& h = image->header();
  if (!h.backing_file.empty()) {
    if (depth + 1 >= options.max_chain_depth) {
      return Err(Status::InvalidArgument(fmt::format(
          "{}: backing chain deeper than {} images (a loop?)", path, options.max_chain_depth)));
    }
    if (h.backing_file.find(':') != std::string::npos &&
        h.backing_file.find('/') > h.backing_file.find(':')) {
      return Err(Status::NotSupported(
          fmt::format("{}: backing file '{}' is not a plain file name (protocols and json: are not "
                      "supported)",
                      path, h.backing_file)));
    }
    ImageFormat backing_format = ImageFormat::kAuto;
    if (!h.backing_format.empty()) {
      auto parsed = ParseImageFormat(h.backing_format);
      if (!parsed || *parsed == ImageFormat::kAuto) {
        return Err(
            Status::NotSupported(fmt::format("{}: backing file format '{}' is not "
                                             "supported (raw and qcow2 are)",
                                             path, h.backing_format)));
      }
      backing_format = *parsed;
    }
    FERRY_ASSIGN_OR_RETURN(auto backing, OpenChain(ResolveBackingPath(path, h.backing_file),
                                                   backing_format, options, depth + 1, path));
    image->SetBacking(std::move(backing));
  }
  return std::unique_ptr<Image>(std::move(image));
}

}  // namespace

Result<std::unique_ptr<Image>> OpenImage(const std::string& path, const OpenImageOptions& options) {
  return OpenChain(path, options.format, options, 0, {});
}

}  // namespace ferry::qcow2
