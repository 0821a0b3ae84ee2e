// The bit layout of QCOW2 table entries (L1, L2, refcount table, bitmap table), shared by the
// reader, the writer and the refcount check so that each rule is written once.
#pragma once

#include <cstdint>

namespace ferry::qcow2 {

inline constexpr uint64_t kHostOffsetMask = 0x00fffffffffffe00;  // Bits 9-55: a host offset.
inline constexpr uint64_t kCopiedFlag = uint64_t{1} << 63;       // Refcount exactly one.
inline constexpr uint64_t kCompressedFlag = uint64_t{1} << 62;   // L2: a compressed cluster.
inline constexpr uint64_t kZeroFlag = 1;                         // L2 (v3): reads as zeros.

// Where a compressed cluster's data lies: `bytes` runs to the end of its last 512-byte sector.
struct CompressedExtent {
  uint64_t host = 0;
  uint64_t bytes = 0;
};

// Bit where a compressed descriptor's sector count starts: 62 - (cluster_bits - 8).
constexpr unsigned CompressedSplit(uint32_t cluster_bits) { return 62 - (cluster_bits - 8); }

constexpr CompressedExtent DecodeCompressed(uint64_t entry, uint32_t cluster_bits) {
  const unsigned x = CompressedSplit(cluster_bits);
  const uint64_t host = entry & ((uint64_t{1} << x) - 1);
  const uint64_t sectors = ((entry >> x) & ((uint64_t{1} << (62 - x)) - 1)) + 1;
  return {host, sectors * 512 - (host & 511)};
}

// The L2 entry of `length` compressed bytes at `host`.
constexpr uint64_t EncodeCompressed(uint64_t host, uint64_t length, uint32_t cluster_bits) {
  const uint64_t extra_sectors = (host + length - 1) / 512 - host / 512;
  return kCompressedFlag | (extra_sectors << CompressedSplit(cluster_bits)) | host;
}

}  // namespace ferry::qcow2
