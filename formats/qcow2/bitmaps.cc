#include "formats/qcow2/bitmaps.h"

#include <fmt/format.h>

#include "common/coding.h"

#include "formats/qcow2/entries.h"

namespace ferry::qcow2 {

namespace {

constexpr size_t kDirectoryEntryFixed = 24;
constexpr uint64_t kTableReserved = 0xff000000000001fe;
constexpr uint64_t kTableAllOnes = 1;

Status Corrupt(const ImageFile& file, std::string_view what) {
  return Status::Corruption(
      fmt::format("{}: malformed QCOW2 bitmap directory: {}", file.path(), what));
}

// Adds [offset, offset + length) to sorted `out`, merging with the last range.
void Mark(cbt::ExtentList* out, uint64_t offset, uint64_t length) {
  if (!out->empty() && out->back().end() >= offset) {
    out->back().length = std::max(out->back().end(), offset + length) - out->back().offset;
  } else {
    out->push_back({offset, length});
  }
}

// Reads the bits of `entry` into dirty ranges, or says why they cannot be trusted.
std::string ReadBits(const ImageFile& file, const Header& h, const BitmapEntry& entry,
                     DirtyBitmap* out) {
  if (entry.granularity_bits > 40) {
    return fmt::format("granularity 2^{} is out of range", entry.granularity_bits);
  }
  const uint64_t granularity = uint64_t{1} << entry.granularity_bits;
  const uint64_t cs = h.cluster_size();
  const uint64_t bits = (h.size + granularity - 1) / granularity;
  const uint64_t data_bytes = (bits + 7) / 8;
  if (entry.table_size != (data_bytes + cs - 1) / cs) {
    return fmt::format("its table has {} entries where a {} byte disk needs {}", entry.table_size,
                       h.size, (data_bytes + cs - 1) / cs);
  }
  if ((entry.table_offset & (cs - 1)) != 0 || entry.table_offset > file.size() ||
      uint64_t{entry.table_size} * 8 > file.size() - entry.table_offset) {
    return "its table lies outside the file";
  }
  std::string table(uint64_t{entry.table_size} * 8, '\0');
  auto n = file.ReadAt(AsWritableBytes(table), entry.table_offset);
  if (!n) return n.error().message();
  if (*n != table.size()) return "its table is truncated";
  out->granularity = granularity;
  const uint64_t bits_per_cluster = cs * 8;
  std::string data(cs, '\0');
  for (uint64_t i = 0; i < entry.table_size; ++i) {
    const uint64_t e = DecodeBig64(table.data() + 8 * i);
    const uint64_t first_bit = i * bits_per_cluster;
    const uint64_t cluster_bits = std::min(bits_per_cluster, bits - first_bit);
    if ((e & kTableReserved) != 0) return fmt::format("reserved bits in table entry {}", i);
    const uint64_t host = e & kHostOffsetMask;
    if (host == 0) {
      if ((e & kTableAllOnes) != 0) {
        Mark(&out->dirty, first_bit * granularity,
             std::min(h.size, (first_bit + cluster_bits) * granularity) - first_bit * granularity);
      }
      continue;
    }
    if ((e & kTableAllOnes) != 0) return fmt::format("table entry {} has reserved bit 0", i);
    if ((host & (cs - 1)) != 0 || host >= file.size()) {
      return fmt::format("table entry {} points outside the file", i);
    }
    auto read = file.ReadAt(AsWritableBytes(data), host);
    if (!read) return read.error().message();
    if (*read < (cluster_bits + 7) / 8) return fmt::format("bitmap data {} is truncated", i);
    for (uint64_t b = 0; b < cluster_bits;) {
      if (b % 64 == 0 && cluster_bits - b >= 64 && DecodeFixed64(data.data() + b / 8) == 0) {
        b += 64;  // Most of a bitmap is clean.
        continue;
      }
      if ((static_cast<uint8_t>(data[b / 8]) >> (b % 8)) & 1) {
        const uint64_t offset = (first_bit + b) * granularity;
        Mark(&out->dirty, offset, std::min(granularity, h.size - offset));
      }
      ++b;
    }
  }
  return {};
}

}  // namespace

Result<std::vector<BitmapEntry>> ReadBitmapDirectory(const ImageFile& file, const Header& h) {
  std::vector<BitmapEntry> entries;
  if (!h.bitmaps) return entries;
  // The header checks these only when the bitmaps are marked consistent.
  if (h.bitmaps->directory_size > (64u << 20) || h.bitmaps->directory_offset > file.size() ||
      h.bitmaps->directory_size > file.size() - h.bitmaps->directory_offset) {
    return Err(Corrupt(file, "the directory lies outside the file"));
  }
  std::string dir(h.bitmaps->directory_size, '\0');
  FERRY_ASSIGN_OR_RETURN(size_t n, file.ReadAt(AsWritableBytes(dir), h.bitmaps->directory_offset));
  if (n != dir.size()) return Err(Corrupt(file, "the directory is truncated"));
  size_t at = 0;
  for (uint32_t i = 0; i < h.bitmaps->count; ++i) {
    if (dir.size() - at < kDirectoryEntryFixed) {
      return Err(Corrupt(file, fmt::format("entry {} runs past the directory", i)));
    }
    const char* p = dir.data() + at;
    BitmapEntry e;
    e.table_offset = DecodeBig64(p);
    e.table_size = DecodeBig32(p + 8);
    e.flags = DecodeBig32(p + 12);
    e.type = static_cast<uint8_t>(p[16]);
    e.granularity_bits = static_cast<uint8_t>(p[17]);
    const uint16_t name_size = DecodeBig16(p + 18);
    e.extra_data_size = DecodeBig32(p + 20);
    const uint64_t entry_size =
        AlignUp(kDirectoryEntryFixed + uint64_t{e.extra_data_size} + name_size, 8);
    if (name_size == 0 || entry_size > dir.size() - at) {
      return Err(Corrupt(file, fmt::format("entry {} runs past the directory", i)));
    }
    e.name.assign(p + kDirectoryEntryFixed + e.extra_data_size, name_size);
    entries.push_back(std::move(e));
    at += entry_size;
  }
  return entries;
}

Result<DirtyBitmap> ReadDirtyBitmap(const ImageFile& file, const Header& h, std::string_view name) {
  DirtyBitmap out;
  if (!h.bitmaps) {
    return Err(Status::NotFound(
        fmt::format("{}: has no bitmap '{}' (it has no bitmaps at all)", file.path(), name)));
  }
  if ((h.autoclear_features & kAutoclearBitmaps) == 0) {
    out.untrusted = fmt::format(
        "the bitmaps of {} are inconsistent (a program that does not keep them wrote to the "
        "image since)",
        file.path());
    return out;
  }
  auto directory = ReadBitmapDirectory(file, h);
  if (!directory) {
    out.untrusted = directory.error().message();
    return out;
  }
  const BitmapEntry* entry = nullptr;
  std::string names;
  for (const BitmapEntry& e : *directory) {
    if (e.name == name) entry = &e;
    names += (names.empty() ? "" : ", ") + e.name;
  }
  if (entry == nullptr) {
    return Err(Status::NotFound(
        fmt::format("{}: has no bitmap '{}' (it has: {})", file.path(), name, names)));
  }
  const auto distrust = [&](std::string_view why) {
    out.dirty.clear();
    out.untrusted = fmt::format("bitmap '{}' of {} {}", name, file.path(), why);
    return out;
  };
  if ((entry->flags & kBitmapInUse) != 0) {
    return distrust("is marked in use: its writer did not save it (QEMU died?)");
  }
  if (entry->type != kBitmapTypeDirtyTracking) {
    return distrust(fmt::format("has type {}, not a dirty tracking bitmap", entry->type));
  }
  if ((entry->flags & ~(kBitmapInUse | kBitmapAuto | kBitmapExtraDataCompatible)) != 0) {
    return distrust(fmt::format("has unknown flags 0x{:x}", entry->flags));
  }
  if (entry->extra_data_size != 0 && (entry->flags & kBitmapExtraDataCompatible) == 0) {
    return distrust("has extra data of a kind ferry does not know");
  }
  const std::string why = ReadBits(file, h, *entry, &out);
  if (!why.empty()) return distrust("is malformed: " + why);
  return out;
}

}  // namespace ferry::qcow2
