// QCOW2 reader fuzz target: any bytes as an image file. Opening, mapping, reading and the dirty
// bitmaps must fail with a Status or succeed; never crash, hang or read outside the file. Work
// per input is bounded (a small file can describe an exabyte disk).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/qcow2/bitmaps.h"
#include "formats/qcow2/qcow2_image.h"
#include "formats/qcow2/refcount_check.h"

namespace {

constexpr uint64_t kMapLimit = 256u << 20;    // Guest bytes mapped per input.
constexpr uint64_t kReadLimit = 4u << 20;     // Guest bytes read per input.
constexpr uint64_t kBitmapLimit = 64u << 20;  // Bitmap bits scanned per input.
constexpr uint64_t kEntryLimit = 4u << 20;    // Table entries the refcount check walks.

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry::qcow2;
  auto image = Qcow2Image::Open(
      MemoryImageFile(std::string(reinterpret_cast<const char*>(data), size), "fuzz.qcow2"));
  if (!image) return 0;
  Qcow2Image& img = **image;
  const uint64_t mapped = std::min(img.size(), kMapLimit);
  uint64_t last_end = 0;
  std::string buffer;
  uint64_t read = 0;
  (void)img.ForEachMapping(0, mapped, [&](const Mapping& m) {
    if (m.offset != last_end || m.length == 0) std::abort();  // Runs must tile the range.
    last_end = m.offset + m.length;
    if (read < kReadLimit) {
      buffer.resize(std::min(m.length, kReadLimit - read));
      read += buffer.size();
      (void)img.Read(ferry::AsWritableBytes(buffer), m.offset);
    }
    return ferry::Status();
  });
  const Header& h = img.header();
  const uint64_t l2_entries = uint64_t{h.l1_size} * (h.cluster_size() / 8);
  const uint64_t refcount_entries = uint64_t{h.refcount_table_clusters} * h.cluster_size() / 8 *
                                    (h.cluster_size() * 8 >> h.refcount_order);
  if (l2_entries <= kEntryLimit && refcount_entries <= kEntryLimit) {
    if (auto report = CheckRefcounts(img)) {
      if (report->clusters_checked > img.file().size()) std::abort();
    }
  }
  auto directory = ReadBitmapDirectory(img.file(), img.header());
  if (!directory) return 0;
  for (const BitmapEntry& e : *directory) {
    if (uint64_t{e.table_size} * img.header().cluster_size() * 8 > kBitmapLimit) continue;
    auto bitmap = ReadDirtyBitmap(img.file(), img.header(), e.name);
    if (!bitmap) continue;
    for (const auto& r : bitmap->dirty) {
      if (r.length == 0 || r.end() > img.size()) std::abort();
    }
  }
  return 0;
}
