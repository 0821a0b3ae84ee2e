// Reading a QCOW2 image: the L1/L2 cluster map (standard and extended entries with subclusters),
// zero and compressed clusters, and the backing image behind unallocated clusters.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "formats/qcow2/header.h"
#include "formats/qcow2/image.h"

namespace ferry::qcow2 {

enum class ClusterKind : uint8_t {
  kData,         // Stored uncompressed at host_offset.
  kCompressed,   // One compressed cluster: compressed_bytes at host_offset.
  kZero,         // Reads as zeros (and hides the backing file).
  kUnallocated,  // Reads from the backing file, or as zeros without one.
};

// A run of guest bytes of one kind. Data runs are host-contiguous; a compressed run is (part
// of) one cluster.
struct Mapping {
  uint64_t offset = 0;  // Guest offset.
  uint64_t length = 0;
  ClusterKind kind = ClusterKind::kUnallocated;
  uint64_t host_offset = 0;       // kData: host offset of `offset`. kCompressed: of the data.
  uint64_t compressed_bytes = 0;  // kCompressed: bytes stored (to the end of its last sector).
};

class Qcow2Image final : public Image {
 public:
  // Opens the image in `file`, whose backing image (if the header names one) is `backing`.
  // Errors: those of ParseHeader; kCorruption for an unreadable L1 table.
  static Result<std::unique_ptr<Qcow2Image>> Open(std::unique_ptr<ImageFile> file);
  // The backing image; REQUIRES: header().backing_file is not empty, called once before reads.
  void SetBacking(std::unique_ptr<Image> backing) { backing_ = std::move(backing); }

  const std::string& path() const override { return file_->path(); }
  std::string_view format() const override { return "qcow2"; }
  uint64_t size() const override { return header_.size; }
  Status Read(MutableByteView out, uint64_t offset) override;
  Result<cbt::ExtentList> DataRanges() override;

  const Header& header() const { return header_; }
  const ImageFile& file() const { return *file_; }
  Image* backing() const { return backing_.get(); }

  // Calls `fn` for the runs of this image alone (not its backing file) covering [offset,
  // offset + length), in order; neighbouring runs of one kind are merged. Errors: kCorruption
  // naming the guest offset of a malformed entry; whatever `fn` returns.
  Status ForEachMapping(uint64_t offset, uint64_t length,
                        const std::function<Status(const Mapping&)>& fn);

 private:
  struct L2Table {
    uint64_t host_offset = 0;
    std::vector<uint64_t> entries;  // Decoded; two per cluster with extended entries.
  };

  Qcow2Image(std::unique_ptr<ImageFile> file, Header header)
      : file_(std::move(file)), header_(std::move(header)) {}
  Result<const L2Table*> LoadL2(uint64_t host_offset);
  // Maps the part [from, to) of the cluster at guest `cluster` described by `entry` (and
  // `bitmap`, the subcluster word of an extended entry).
  Status MapCluster(uint64_t cluster, uint64_t from, uint64_t to, uint64_t entry, uint64_t bitmap,
                    const std::function<void(const Mapping&)>& emit);
  Status ReadMapping(const Mapping& m, MutableByteView out);
  Status CorruptAt(uint64_t guest_offset, std::string_view what) const;

  std::unique_ptr<ImageFile> file_;
  Header header_;
  std::unique_ptr<Image> backing_;
  std::vector<uint64_t> l1_;
  std::vector<L2Table> l2_cache_;  // Small; the oldest entry is replaced.
  size_t l2_next_victim_ = 0;
  // The last decompressed cluster (sequential reads of it in parts decompress it once).
  uint64_t compressed_host_ = UINT64_MAX;
  std::string compressed_in_;
  std::string compressed_out_;
};

}  // namespace ferry::qcow2
