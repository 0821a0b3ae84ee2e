#include "formats/qcow2/header.h"

#include <fmt/format.h>

#include "common/coding.h"

namespace ferry::qcow2 {

namespace {

Status Corrupt(const std::string& path, std::string_view what) {
  return Status::Corruption(fmt::format("{}: malformed QCOW2 header: {}", path, what));
}

bool ClusterAligned(uint64_t offset, const Header& h) {
  return (offset & (h.cluster_size() - 1)) == 0;
}

// A contiguous table of `bytes` at `offset` lies inside the file.
bool InsideFile(uint64_t offset, uint64_t bytes, uint64_t file_size) {
  return offset <= file_size && bytes <= file_size - offset;
}

Status ParseExtensions(ByteView first, uint64_t end, Header* h, const std::string& path) {
  uint64_t at = h->header_length;
  for (;;) {
    if (end - at < 8) {
      if (at == end) return Status();  // The area may end without an end marker.
      return Corrupt(path, "header extension runs past the end of the header area");
    }
    const uint32_t type = DecodeBig32(first.data() + at);
    const uint32_t length = DecodeBig32(first.data() + at + 4);
    at += 8;
    if (type == kExtEnd) return Status();
    if (length > end - at) {
      return Corrupt(path, fmt::format("header extension 0x{:08x} of {} bytes runs past the end "
                                       "of the header area",
                                       type, length));
    }
    const std::byte* data = first.data() + at;
    switch (type) {
      case kExtBackingFormat:
        h->backing_format.assign(reinterpret_cast<const char*>(data), length);
        break;
      case kExtBitmaps: {
        if (length != 24) return Corrupt(path, "bitmaps extension is not 24 bytes long");
        BitmapsExtension b;
        b.count = DecodeBig32(data);
        if (DecodeBig32(data + 4) != 0) return Corrupt(path, "bitmaps extension reserved field");
        b.directory_size = DecodeBig64(data + 8);
        b.directory_offset = DecodeBig64(data + 16);
        h->bitmaps = b;
        break;
      }
      case kExtEncryption:
        return Status::NotSupported(
            fmt::format("{}: encrypted QCOW2 images are not supported", path));
      case kExtDataFile:
        return Status::NotSupported(
            fmt::format("{}: QCOW2 images with an external data file are not supported", path));
      default:  // Feature names and unknown extensions: nothing ferry needs.
        break;
    }
    at += AlignUp(length, 8);
    if (at > end) return Corrupt(path, "header extension padding runs past the header area");
  }
}

}  // namespace

bool HasQcow2Magic(ByteView first) {
  return first.size() >= 4 && DecodeBig32(first.data()) == kMagic;
}

Result<Header> ParseHeader(ByteView first, uint64_t file_size, const std::string& path) {
  if (first.size() < kV2HeaderLength || !HasQcow2Magic(first)) {
    return Err(Status::InvalidArgument(fmt::format("{}: not a QCOW2 image", path)));
  }
  const std::byte* p = first.data();
  Header h;
  h.version = DecodeBig32(p + 4);
  if (h.version != 2 && h.version != 3) {
    return Err(Status::NotSupported(
        fmt::format("{}: QCOW2 version {} is not supported (2 and 3 are)", path, h.version)));
  }
  const uint64_t backing_offset = DecodeBig64(p + 8);
  const uint32_t backing_size = DecodeBig32(p + 16);
  h.cluster_bits = DecodeBig32(p + 20);
  h.size = DecodeBig64(p + 24);
  h.crypt_method = DecodeBig32(p + 32);
  h.l1_size = DecodeBig32(p + 36);
  h.l1_table_offset = DecodeBig64(p + 40);
  h.refcount_table_offset = DecodeBig64(p + 48);
  h.refcount_table_clusters = DecodeBig32(p + 56);
  h.nb_snapshots = DecodeBig32(p + 60);
  h.snapshots_offset = DecodeBig64(p + 64);
  h.header_length = static_cast<uint32_t>(kV2HeaderLength);
  if (h.version >= 3) {
    if (first.size() < kV3HeaderLength) return Err(Corrupt(path, "version 3 header is truncated"));
    h.incompatible_features = DecodeBig64(p + 72);
    h.compatible_features = DecodeBig64(p + 80);
    h.autoclear_features = DecodeBig64(p + 88);
    h.refcount_order = DecodeBig32(p + 96);
    h.header_length = DecodeBig32(p + 100);
  }

  if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits) {
    return Err(Status::NotSupported(fmt::format(
        "{}: cluster size 2^{} is not supported (2^9 to 2^21 are)", path, h.cluster_bits)));
  }
  if (h.crypt_method != 0) {
    return Err(Status::NotSupported(fmt::format(
        "{}: encrypted QCOW2 images ({}) are not supported: decrypt with qemu-img convert first",
        path, h.crypt_method == 2 ? "LUKS" : "AES")));
  }
  if ((h.incompatible_features & kIncompatExternalData) != 0) {
    return Err(Status::NotSupported(
        fmt::format("{}: QCOW2 images with an external data file are not supported", path)));
  }
  if ((h.incompatible_features & ~kIncompatKnown) != 0) {
    return Err(Status::NotSupported(fmt::format("{}: unknown QCOW2 incompatible features 0x{:x}",
                                                path, h.incompatible_features & ~kIncompatKnown)));
  }
  if ((h.incompatible_features & kIncompatCorrupt) != 0) {
    return Err(Status::Corruption(fmt::format(
        "{}: the image is marked corrupt; repair it with qemu-img check -r all first", path)));
  }
  if (h.extended_l2() && h.cluster_bits < 14) {
    return Err(Corrupt(path, "extended L2 entries need clusters of at least 16 KiB"));
  }
  if (h.version >= 3) {
    if (h.header_length < kV3HeaderLength || h.header_length % 8 != 0 ||
        h.header_length > h.cluster_size() || h.header_length > first.size()) {
      return Err(Corrupt(path, fmt::format("header length {}", h.header_length)));
    }
    if (h.refcount_order > 6) {
      return Err(Corrupt(path, fmt::format("refcount order {}", h.refcount_order)));
    }
    const bool has_type_field = h.header_length > kV3HeaderLength;
    const uint8_t type = has_type_field ? static_cast<uint8_t>(p[kV3HeaderLength]) : 0;
    if ((h.incompatible_features & kIncompatCompressionType) != 0) {
      if (type == 0) return Err(Corrupt(path, "compression type bit set without a type"));
    } else if (type != 0) {
      return Err(Corrupt(path, "compression type set without its incompatible feature bit"));
    }
    if (type > 1) {
      return Err(Status::NotSupported(fmt::format(
          "{}: QCOW2 compression type {} is not supported (zlib and zstd are)", path, type)));
    }
    h.compression = static_cast<Compression>(type);
  }

  // Sizes and tables, so no later computation can overflow or read outside the file.
  if (h.size > (uint64_t{1} << 61)) return Err(Corrupt(path, "virtual size beyond 2 EiB"));
  if (uint64_t{h.l1_size} * 8 > kMaxL1Bytes) {
    return Err(Corrupt(path, fmt::format("L1 table of {} entries", h.l1_size)));
  }
  if (h.l1_size < h.l1_entries_needed()) {
    return Err(Corrupt(
        path, fmt::format("L1 table of {} entries is too small for {} bytes", h.l1_size, h.size)));
  }
  if (h.l1_size > 0 && (!ClusterAligned(h.l1_table_offset, h) || h.l1_table_offset == 0 ||
                        !InsideFile(h.l1_table_offset, uint64_t{h.l1_size} * 8, file_size))) {
    return Err(Corrupt(path, fmt::format("L1 table at {} ({} entries) in a file of {} bytes",
                                         h.l1_table_offset, h.l1_size, file_size)));
  }
  const uint64_t refcount_bytes = uint64_t{h.refcount_table_clusters} << h.cluster_bits;
  if (refcount_bytes > kMaxRefcountTableBytes || !ClusterAligned(h.refcount_table_offset, h) ||
      !InsideFile(h.refcount_table_offset, refcount_bytes, file_size)) {
    return Err(Corrupt(path, "refcount table lies outside the file"));
  }

  // Backing file name: inside the first cluster, after the extensions.
  const uint64_t header_area_end = std::min<uint64_t>(first.size(), h.cluster_size());
  uint64_t extensions_end = header_area_end;
  if (backing_offset != 0) {
    if (backing_size == 0 || backing_size > 1023 || backing_offset > header_area_end ||
        backing_size > header_area_end - backing_offset || backing_offset < h.header_length) {
      return Err(Corrupt(path, "backing file name lies outside the first cluster"));
    }
    h.backing_file.assign(reinterpret_cast<const char*>(p + backing_offset), backing_size);
    extensions_end = backing_offset;
  }
  if (h.version >= 3) {
    FERRY_RETURN_IF_ERROR(ParseExtensions(first, extensions_end, &h, path));
  }
  // Without the autoclear bit the extension is stale (a writer that knew nothing of bitmaps
  // touched the image) and its pointers are not used, so they are not checked either.
  const bool bitmaps_consistent = (h.autoclear_features & kAutoclearBitmaps) != 0;
  if (h.bitmaps && bitmaps_consistent &&
      (h.bitmaps->count == 0 || !ClusterAligned(h.bitmaps->directory_offset, h) ||
       !InsideFile(h.bitmaps->directory_offset, h.bitmaps->directory_size, file_size) ||
       h.bitmaps->directory_size > (64u << 20))) {
    return Err(Corrupt(path, "bitmaps extension points outside the file"));
  }
  return h;
}

}  // namespace ferry::qcow2
