// Qcow2Writer: the bookkeeping of writing a new QCOW2 (version 3) image — where each cluster
// goes, the L1/L2 tables, the refcounts — without doing any I/O itself, so the caller can put
// the data through whatever queue it likes (the restore writes it through io_uring) and the
// rules of the format live in one place, testable on their own.
//
// Layout: cluster 0 holds the header (and the backing file name); then the refcount table,
// sized for the largest file the image can become; then the L1 table; then refcount block 0.
// Data (whole clusters, or compressed clusters packed byte by byte) follows in the order the
// caller allocates it; L2 tables and further refcount blocks are appended by Finish().
//
// Crash safety comes from the order of the metadata writes, which Finish() returns in three
// phases to be made durable one after the other:
//   Initial()   a clean, empty image: every metadata cluster counted, L1 all zeros.
//   data        clusters nobody references yet (refcount 0: free space, not errors).
//   phase 1     L2 tables and refcount blocks 1.., still referenced by nothing.
//   phase 2     refcount block 0 and the refcount table: now everything is counted, and until
//               the L1 table lands the image only leaks clusters (`qemu-img check -r leaks`).
//   phase 3     the L1 table: the image is complete and clean.
//
// Thread-safety: none; the caller serialises (the restore calls it from its writer thread).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

#include "formats/qcow2/header.h"

namespace ferry::qcow2 {

struct WriterOptions {
  uint64_t size = 0;           // Virtual disk size.
  uint32_t cluster_bits = 16;  // 9 (512 B) to 21 (2 MiB).
  // Type of compressed clusters (the header's compression_type; zstd sets its feature bit).
  Compression compression = Compression::kZlib;
  std::string backing_file;    // Stored as given (relative names resolve against the image).
  std::string backing_format;  // "qcow2" or "raw"; stored in the backing-format extension.
};

struct MetadataWrite {
  uint64_t offset = 0;
  std::string bytes;
};

class Qcow2Writer {
 public:
  // Errors: kInvalidArgument for a cluster size outside 2^9..2^21, a virtual size past 2^61,
  // or a backing file name that does not fit in the first cluster (or exceeds 1023 bytes).
  static Result<std::unique_ptr<Qcow2Writer>> Create(const WriterOptions& options);

  uint64_t cluster_size() const { return uint64_t{1} << options_.cluster_bits; }
  // The metadata of the empty image, to write at offset 0 before anything else.
  std::string Initial() const;
  // Where the next data may go: every cluster before it is accounted for.
  uint64_t end() const { return end_; }

  // Allocates `n` whole clusters, contiguous, and returns the host offset of the first.
  uint64_t AllocateClusters(uint64_t n);
  // Allocates `n` bytes for compressed data (not cluster aligned) and returns their offset.
  uint64_t AllocateBytes(uint64_t n);

  // Maps guest cluster `index` (guest offset / cluster size). Each at most once.
  // REQUIRES: host offsets from the allocators; `index` below the number of guest clusters.
  void MapData(uint64_t index, uint64_t host);
  void MapCompressed(uint64_t index, uint64_t host, uint64_t length);
  // Reads as zeros whatever the backing file holds (for overlays).
  void MapZero(uint64_t index);

  // The remaining metadata in its three phases (see above). Call once, after every data write
  // is done. Errors: kInvalidArgument if a refcount would overflow.
  Result<std::array<std::vector<MetadataWrite>, 3>> Finish();

  uint64_t data_clusters() const { return data_clusters_; }
  uint64_t compressed_clusters() const { return compressed_clusters_; }

 private:
  explicit Qcow2Writer(const WriterOptions& options) : options_(options) {}
  uint64_t* L2Entry(uint64_t index);
  // Counts one reference to each host cluster of [host, host + length).
  void Reference(uint64_t host, uint64_t length);

  WriterOptions options_;
  std::string header_cluster_;
  uint64_t l1_size_ = 0;
  uint64_t l2_entries_ = 0;
  uint64_t refcount_table_offset_ = 0;
  uint64_t refcount_table_clusters_ = 0;
  uint64_t l1_offset_ = 0;
  uint64_t l1_clusters_ = 0;
  uint64_t refblock0_offset_ = 0;
  uint64_t initial_blocks_ = 0;  // Refcount blocks Initial() writes, from refblock0_offset_.
  uint64_t end_ = 0;
  std::vector<std::unique_ptr<uint64_t[]>> l2_;  // By L1 index; null until a cluster is mapped.
  std::vector<uint32_t> refcounts_;              // By host cluster; grows with allocation.
  uint64_t data_clusters_ = 0;
  uint64_t compressed_clusters_ = 0;
};

}  // namespace ferry::qcow2
