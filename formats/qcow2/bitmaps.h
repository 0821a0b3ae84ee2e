// QCOW2 persistent dirty bitmaps (the bitmaps header extension, the bitmap directory and each
// bitmap's table), read straight from the image: a change source for incremental backups of
// QCOW2 volumes (`--cbt qcow2-bitmap:NAME`).
//
// A bitmap is only as good as its writer's last clean shutdown. One marked in use (QEMU died
// with it loaded), or in an image whose bitmaps-consistent autoclear bit is gone (a program that
// knows nothing of bitmaps wrote to it), or with metadata that does not add up, is reported as
// untrusted with the reason, and the caller reads the whole volume instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

#include "cbt/extent_list.h"
#include "formats/qcow2/header.h"
#include "formats/qcow2/image_file.h"

namespace ferry::qcow2 {

inline constexpr uint32_t kBitmapInUse = 1u << 0;
inline constexpr uint32_t kBitmapAuto = 1u << 1;
inline constexpr uint32_t kBitmapExtraDataCompatible = 1u << 2;
inline constexpr uint8_t kBitmapTypeDirtyTracking = 1;

struct BitmapEntry {
  std::string name;
  uint64_t table_offset = 0;
  uint32_t table_size = 0;  // Entries of the bitmap table.
  uint32_t flags = 0;
  uint8_t type = 0;
  uint8_t granularity_bits = 0;
  uint32_t extra_data_size = 0;
};

// The bitmap directory; empty if the image has no bitmaps extension. Errors: kCorruption naming
// the image for a directory that does not parse.
Result<std::vector<BitmapEntry>> ReadBitmapDirectory(const ImageFile& file, const Header& header);

struct DirtyBitmap {
  cbt::ExtentList dirty;     // Guest ranges written while the bitmap was enabled.
  uint64_t granularity = 0;  // Bytes per bit.
  std::string untrusted;     // Why the bitmap must not be used; empty if it can be.
};

// The dirty ranges of bitmap `name`. Errors: kNotFound naming the bitmap and the bitmaps the
// image does have. Problems with the bitmap itself are not errors but `untrusted`.
Result<DirtyBitmap> ReadDirtyBitmap(const ImageFile& file, const Header& header,
                                    std::string_view name);

}  // namespace ferry::qcow2
