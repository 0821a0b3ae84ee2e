// The QCOW2 image header and its extensions (QEMU's docs/interop/qcow2.txt; our summary of the
// parts ferry reads and writes is docs/QCOW2.md). Everything is big-endian. Parsing checks every
// field against the file it came from, so the rest of the reader can trust the numbers it holds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::qcow2 {

inline constexpr uint32_t kMagic = 0x514649fb;  // "QFI\xfb"
inline constexpr size_t kV2HeaderLength = 72;
inline constexpr size_t kV3HeaderLength = 104;
// 112 with the compression_type field (and its 7 bytes of padding).
inline constexpr size_t kV3HeaderLengthWithCompression = 112;
inline constexpr uint32_t kMinClusterBits = 9;
inline constexpr uint32_t kMaxClusterBits = 21;  // 2 MiB: QEMU opens nothing larger.
inline constexpr uint64_t kMaxL1Bytes = 32u << 20;
inline constexpr uint64_t kMaxRefcountTableBytes = 8u << 20;

// incompatible_features
inline constexpr uint64_t kIncompatDirty = 1u << 0;
inline constexpr uint64_t kIncompatCorrupt = 1u << 1;
inline constexpr uint64_t kIncompatExternalData = 1u << 2;
inline constexpr uint64_t kIncompatCompressionType = 1u << 3;
inline constexpr uint64_t kIncompatExtendedL2 = 1u << 4;
inline constexpr uint64_t kIncompatKnown = 0x1f;
// autoclear_features
inline constexpr uint64_t kAutoclearBitmaps = 1u << 0;
inline constexpr uint64_t kAutoclearRawExternal = 1u << 1;

// Header extension types.
inline constexpr uint32_t kExtEnd = 0;
inline constexpr uint32_t kExtBackingFormat = 0xe2792aca;
inline constexpr uint32_t kExtFeatureTable = 0x6803f857;
inline constexpr uint32_t kExtBitmaps = 0x23852875;
inline constexpr uint32_t kExtEncryption = 0x0537be77;
inline constexpr uint32_t kExtDataFile = 0x44415441;

enum class Compression : uint8_t { kZlib = 0, kZstd = 1 };

struct BitmapsExtension {
  uint32_t count = 0;
  uint64_t directory_size = 0;
  uint64_t directory_offset = 0;
};

struct Header {
  uint32_t version = 3;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;  // Virtual disk size in bytes.
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible_features = 0;
  uint64_t compatible_features = 0;
  uint64_t autoclear_features = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = kV3HeaderLength;
  Compression compression = Compression::kZlib;

  std::string backing_file;    // Empty: no backing file.
  std::string backing_format;  // From the extension; empty if absent.
  std::optional<BitmapsExtension> bitmaps;

  uint64_t cluster_size() const { return uint64_t{1} << cluster_bits; }
  bool extended_l2() const { return (incompatible_features & kIncompatExtendedL2) != 0; }
  // Bytes per L2 entry: 8, or 16 with extended L2 entries.
  uint64_t l2_entry_bytes() const { return extended_l2() ? 16 : 8; }
  uint64_t l2_entries() const { return cluster_size() / l2_entry_bytes(); }
  // Guest bytes one L2 table maps.
  uint64_t l2_span() const { return l2_entries() * cluster_size(); }
  // L1 entries needed to map `size` bytes.
  uint64_t l1_entries_needed() const { return (size + l2_span() - 1) / l2_span(); }
};

// Parses the header of an image from its first bytes (`first` holds at least the first cluster,
// or the whole file if it is smaller). `file_size` bounds every offset. Errors naming `path`:
// kInvalidArgument for a file that is not QCOW2 at all; kCorruption for a malformed header or
// extension; kNotSupported for encryption, external data files, unknown incompatible features
// and versions other than 2 and 3.
Result<Header> ParseHeader(ByteView first, uint64_t file_size, const std::string& path);

// True if `first` starts with the QCOW2 magic.
bool HasQcow2Magic(ByteView first);

}  // namespace ferry::qcow2
