#include "formats/qcow2/refcount_check.h"

#include <fmt/format.h>

#include "common/coding.h"

#include "formats/qcow2/bitmaps.h"
#include "formats/qcow2/entries.h"

namespace ferry::qcow2 {

namespace {

constexpr size_t kMaxProblems = 10;

// References per host cluster of the file; references past its end are counted apart (an image
// that names them is corrupt, and they must not size anything).
class Counter {
 public:
  Counter(uint64_t cluster_size, uint64_t file_size)
      : cs_(cluster_size), used_((file_size + cluster_size - 1) / cluster_size, 0) {}
  // One reference to each cluster of [offset, offset + length).
  void Add(uint64_t offset, uint64_t length) {
    if (length == 0) return;
    // Compared with the file's end in bytes: a range that starts inside the last cluster may
    // still run past it.
    const uint64_t end_of_file = used_.size() * cs_;
    if (offset >= end_of_file || length > end_of_file - offset) {
      ++outside_;
      return;
    }
    const uint64_t last = (offset + length - 1) / cs_;
    for (uint64_t c = offset / cs_; c <= last; ++c) ++used_[c];
  }
  const std::vector<uint64_t>& used() const { return used_; }
  uint64_t outside() const { return outside_; }

 private:
  uint64_t cs_;
  std::vector<uint64_t> used_;
  uint64_t outside_ = 0;
};

Result<std::string> ReadExactly(const ImageFile& file, uint64_t offset, uint64_t length,
                                std::string_view what) {
  if (offset > file.size() || length > file.size() - offset) {
    return Err(Status::Corruption(
        fmt::format("{}: {} at {} lies past the end of the file", file.path(), what, offset)));
  }
  std::string out(length, '\0');
  FERRY_ASSIGN_OR_RETURN(size_t n, file.ReadAt(AsWritableBytes(out), offset));
  if (n != length) {
    return Err(Status::Corruption(
        fmt::format("{}: {} at {} lies past the end of the file", file.path(), what, offset)));
  }
  return out;
}

}  // namespace

Result<RefcountReport> CheckRefcounts(Qcow2Image& image) {
  const Header& h = image.header();
  const ImageFile& file = image.file();
  const uint64_t cs = h.cluster_size();
  if (h.nb_snapshots != 0) {
    return Err(Status::NotSupported(fmt::format(
        "{}: refcounts of images with internal snapshots are not checked", file.path())));
  }
  Counter counter(cs, file.size());
  counter.Add(0, cs);  // Header (and backing file name).
  counter.Add(h.l1_table_offset, uint64_t{h.l1_size} * 8);
  const uint64_t table_bytes = uint64_t{h.refcount_table_clusters} * cs;
  counter.Add(h.refcount_table_offset, table_bytes);

  // L2 tables and every host cluster their entries name (zero clusters may keep theirs).
  FERRY_ASSIGN_OR_RETURN(std::string l1,
                         ReadExactly(file, h.l1_table_offset, uint64_t{h.l1_size} * 8, "L1 table"));
  const unsigned per_entry = h.extended_l2() ? 2 : 1;
  for (uint32_t i = 0; i < h.l1_size; ++i) {
    const uint64_t l2 = DecodeBig64(l1.data() + 8 * i) & kHostOffsetMask;
    if (l2 == 0) continue;
    counter.Add(l2, cs);
    FERRY_ASSIGN_OR_RETURN(std::string table, ReadExactly(file, l2, cs, "L2 table"));
    for (uint64_t e = 0; e < cs / 8; e += per_entry) {
      const uint64_t entry = DecodeBig64(table.data() + 8 * e);
      if ((entry & kCompressedFlag) != 0) {
        // The stored sectors, as far as the file goes (at least the cluster they start in).
        const CompressedExtent c = DecodeCompressed(entry, h.cluster_bits);
        const uint64_t end = std::min(c.host + c.bytes, file.size());
        counter.Add(c.host, end > c.host ? end - c.host : 1);
      } else if (const uint64_t host = entry & kHostOffsetMask; host != 0) {
        counter.Add(host, cs);
      }
    }
  }

  // Bitmap metadata: directory, tables, data clusters.
  if (h.bitmaps && (h.autoclear_features & kAutoclearBitmaps) != 0) {
    counter.Add(h.bitmaps->directory_offset, h.bitmaps->directory_size);
    FERRY_ASSIGN_OR_RETURN(auto directory, ReadBitmapDirectory(file, h));
    for (const BitmapEntry& e : directory) {
      counter.Add(e.table_offset, uint64_t{e.table_size} * 8);
      FERRY_ASSIGN_OR_RETURN(
          std::string table,
          ReadExactly(file, e.table_offset, uint64_t{e.table_size} * 8, "bitmap table"));
      for (uint32_t i = 0; i < e.table_size; ++i) {
        const uint64_t data = DecodeBig64(table.data() + 8 * i) & kHostOffsetMask;
        if (data != 0) counter.Add(data, cs);
      }
    }
  }

  // The refcount blocks themselves, then the comparison.
  FERRY_ASSIGN_OR_RETURN(std::string table,
                         ReadExactly(file, h.refcount_table_offset, table_bytes, "refcount table"));
  const unsigned bits = 1u << h.refcount_order;
  const uint64_t per_block = cs * 8 / bits;
  std::vector<uint64_t> stored(counter.used().size(), 0);
  uint64_t counted_outside = 0;  // Non-zero refcounts of clusters past the end of the file.
  for (uint64_t b = 0; b < table_bytes / 8; ++b) {
    const uint64_t block = DecodeBig64(table.data() + 8 * b) & kHostOffsetMask;
    if (block == 0) continue;
    counter.Add(block, cs);
    FERRY_ASSIGN_OR_RETURN(std::string bytes, ReadExactly(file, block, cs, "refcount block"));
    for (uint64_t e = 0; e < per_block; ++e) {
      const uint64_t cluster = b * per_block + e;
      const uint64_t bit = e * bits;
      uint64_t value = 0;
      if (bits >= 8) {
        for (unsigned k = 0; k < bits / 8; ++k) {
          value = (value << 8) | static_cast<uint8_t>(bytes[bit / 8 + k]);
        }
      } else {
        const unsigned byte = static_cast<uint8_t>(bytes[bit / 8]);
        value = (byte >> (bit % 8)) & ((1u << bits) - 1u);
      }
      if (value == 0) continue;
      if (cluster >= stored.size()) {
        ++counted_outside;
        continue;
      }
      stored[cluster] = value;
    }
  }
  RefcountReport report;
  const std::vector<uint64_t>& used = counter.used();
  report.clusters_checked = used.size();
  if (counter.outside() > 0) {
    report.errors += counter.outside();
    report.problems.push_back(
        fmt::format("{} references to clusters past the end of the file", counter.outside()));
  }
  if (counted_outside > 0) {
    report.leaks += counted_outside;
    report.problems.push_back(
        fmt::format("{} clusters past the end of the file have refcounts", counted_outside));
  }
  for (uint64_t c = 0; c < report.clusters_checked; ++c) {
    const uint64_t u = used[c];
    const uint64_t s = stored[c];
    if (u == s) continue;
    if (u == 0) {
      ++report.leaks;
    } else {
      ++report.errors;
    }
    if (report.problems.size() < kMaxProblems) {
      report.problems.push_back(
          fmt::format("cluster {}: refcount {}, referenced {} times", c, s, u));
    }
  }
  return report;
}

}  // namespace ferry::qcow2
