#include "formats/qcow2/qcow2_image.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "common/coding.h"

#include "formats/qcow2/cluster_codec.h"
#include "formats/qcow2/entries.h"

namespace ferry::qcow2 {

namespace {

constexpr uint64_t kL1Reserved = 0x7f000000000001ff;  // Bits 0-8 and 56-62.
constexpr uint64_t kL2Reserved = 0x3f000000000001fe;  // Bits 1-8 and 56-61.
constexpr unsigned kSubclusters = 32;
constexpr size_t kL2CacheBytes = 8u << 20;

bool Mergeable(const Mapping& a, const Mapping& b) {
  if (a.kind != b.kind || a.offset + a.length != b.offset || a.kind == ClusterKind::kCompressed) {
    return false;
  }
  return a.kind != ClusterKind::kData || a.host_offset + a.length == b.host_offset;
}

void AppendRange(cbt::ExtentList* out, uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (!out->empty() && out->back().end() == offset) {
    out->back().length += length;
  } else {
    out->push_back({offset, length});
  }
}

}  // namespace

Result<std::unique_ptr<Qcow2Image>> Qcow2Image::Open(std::unique_ptr<ImageFile> file) {
  // The header area is the first cluster; its size is in the header itself.
  std::string first(std::min<uint64_t>(file->size(), 4096), '\0');
  FERRY_ASSIGN_OR_RETURN(size_t n, file->ReadAt(AsWritableBytes(first), 0));
  first.resize(n);
  if (first.size() >= 24) {
    const uint32_t bits =
        std::clamp(DecodeBig32(first.data() + 20), kMinClusterBits, kMaxClusterBits);
    const uint64_t want = std::min<uint64_t>(file->size(), uint64_t{1} << bits);
    if (want > first.size()) {
      first.resize(want);
      FERRY_ASSIGN_OR_RETURN(n, file->ReadAt(AsWritableBytes(first), 0));
      first.resize(n);
    }
  }
  FERRY_ASSIGN_OR_RETURN(Header header, ParseHeader(AsBytes(first), file->size(), file->path()));
  std::unique_ptr<Qcow2Image> image(new Qcow2Image(std::move(file), std::move(header)));
  const Header& h = image->header_;
  std::string l1(uint64_t{h.l1_size} * 8, '\0');
  FERRY_ASSIGN_OR_RETURN(n, image->file_->ReadAt(AsWritableBytes(l1), h.l1_table_offset));
  if (n != l1.size()) return Err(image->CorruptAt(0, "the L1 table is truncated"));
  image->l1_.resize(h.l1_size);
  for (size_t i = 0; i < image->l1_.size(); ++i) image->l1_[i] = DecodeBig64(l1.data() + 8 * i);
  return image;
}

Status Qcow2Image::CorruptAt(uint64_t guest_offset, std::string_view what) const {
  return Status::Corruption(
      fmt::format("{}: corrupt QCOW2 image at guest offset {}: {}", path(), guest_offset, what));
}

Result<const Qcow2Image::L2Table*> Qcow2Image::LoadL2(uint64_t host_offset) {
  for (const L2Table& t : l2_cache_) {
    if (t.host_offset == host_offset) return &t;
  }
  const size_t capacity = std::max<size_t>(4, kL2CacheBytes / header_.cluster_size());
  L2Table* slot;
  if (l2_cache_.size() < capacity) {
    slot = &l2_cache_.emplace_back();
  } else {
    slot = &l2_cache_[l2_next_victim_];
    l2_next_victim_ = (l2_next_victim_ + 1) % capacity;
  }
  slot->host_offset = UINT64_MAX;  // Invalid until fully read.
  std::string raw(header_.cluster_size(), '\0');
  FERRY_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(AsWritableBytes(raw), host_offset));
  if (n != raw.size()) {
    return Err(Status::Corruption(fmt::format(
        "{}: L2 table at host offset {} lies past the end of the file", path(), host_offset)));
  }
  slot->entries.resize(raw.size() / 8);
  for (size_t i = 0; i < slot->entries.size(); ++i) {
    slot->entries[i] = DecodeBig64(raw.data() + 8 * i);
  }
  slot->host_offset = host_offset;
  return slot;
}

Status Qcow2Image::MapCluster(uint64_t cluster, uint64_t from, uint64_t to, uint64_t entry,
                              uint64_t bitmap, const std::function<void(const Mapping&)>& emit) {
  const uint64_t cs = header_.cluster_size();
  if ((entry & kCompressedFlag) != 0) {
    const CompressedExtent c = DecodeCompressed(entry, header_.cluster_bits);
    if (c.host >= file_->size() || (c.host >> 56) != 0) {
      return CorruptAt(cluster, fmt::format("compressed cluster at host offset {} lies past the "
                                            "end of the file",
                                            c.host));
    }
    emit({from, to - from, ClusterKind::kCompressed, c.host, c.bytes});
    return Status();
  }
  entry &= ~kCopiedFlag;
  const uint64_t host = entry & kHostOffsetMask;
  if ((entry & kL2Reserved) != 0) return CorruptAt(cluster, "reserved bits set in an L2 entry");
  if ((host & (cs - 1)) != 0) {
    return CorruptAt(cluster, fmt::format("data cluster at unaligned host offset {}", host));
  }
  if (host != 0 && host >= file_->size()) {
    return CorruptAt(
        cluster, fmt::format("data cluster at host offset {} lies past the end of the file", host));
  }
  if (!header_.extended_l2()) {
    Mapping m{from, to - from, ClusterKind::kUnallocated, 0, 0};
    if ((entry & kZeroFlag) != 0) {
      if (header_.version < 3) return CorruptAt(cluster, "zero flag in a version 2 image");
      m.kind = ClusterKind::kZero;
    } else if (host != 0) {
      m.kind = ClusterKind::kData;
      m.host_offset = host + (from - cluster);
    }
    emit(m);
    return Status();
  }
  if ((entry & kZeroFlag) != 0) return CorruptAt(cluster, "zero flag in an extended L2 entry");
  const auto allocated = static_cast<uint32_t>(bitmap);
  const auto zeros = static_cast<uint32_t>(bitmap >> 32);
  if ((allocated & zeros) != 0) {
    return CorruptAt(cluster, "subcluster both allocated and reading as zeros");
  }
  if (allocated != 0 && host == 0) {
    return CorruptAt(cluster, "allocated subclusters without a host cluster");
  }
  const uint64_t sub = cs / kSubclusters;
  for (uint64_t at = from; at < to;) {
    const auto i = static_cast<unsigned>((at - cluster) / sub);
    const uint64_t end = std::min(to, cluster + (i + 1) * sub);
    Mapping m{at, end - at, ClusterKind::kUnallocated, 0, 0};
    if ((allocated >> i) & 1) {
      m.kind = ClusterKind::kData;
      m.host_offset = host + (at - cluster);
    } else if ((zeros >> i) & 1) {
      m.kind = ClusterKind::kZero;
    }
    emit(m);
    at = end;
  }
  return Status();
}

Status Qcow2Image::ForEachMapping(uint64_t offset, uint64_t length,
                                  const std::function<Status(const Mapping&)>& fn) {
  if (offset > header_.size || length > header_.size - offset) {
    return Status::InvalidArgument(fmt::format("{}: range {}+{} lies outside the {} byte image",
                                               path(), offset, length, header_.size));
  }
  const uint64_t cs = header_.cluster_size();
  const uint64_t span = header_.l2_span();
  const uint64_t end = offset + length;
  std::optional<Mapping> pending;
  Status status;
  auto emit = [&](const Mapping& m) {
    if (pending && Mergeable(*pending, m)) {
      pending->length += m.length;
      return;
    }
    if (pending && status.ok()) status = fn(*pending);
    pending = m;
  };
  for (uint64_t pos = offset; pos < end && status.ok();) {
    const uint64_t l1_index = pos / span;
    const uint64_t table_end = std::min(end, (l1_index + 1) * span);
    const uint64_t l1_entry = l1_[l1_index];
    if ((l1_entry & kL1Reserved) != 0) {
      return CorruptAt(pos, "reserved bits set in an L1 entry");
    }
    const uint64_t l2_offset = l1_entry & kHostOffsetMask;
    if (l2_offset == 0) {
      emit({pos, table_end - pos, ClusterKind::kUnallocated, 0, 0});
      pos = table_end;
      continue;
    }
    if ((l2_offset & (cs - 1)) != 0) {
      return CorruptAt(pos, fmt::format("L2 table at unaligned host offset {}", l2_offset));
    }
    FERRY_ASSIGN_OR_RETURN(const L2Table* table, LoadL2(l2_offset));
    const unsigned per_entry = header_.extended_l2() ? 2 : 1;
    while (pos < table_end && status.ok()) {
      const uint64_t cluster = AlignDown(pos, cs);
      const uint64_t index = (cluster - l1_index * span) / cs * per_entry;
      const uint64_t to = std::min(table_end, cluster + cs);
      const uint64_t bitmap = per_entry == 2 ? table->entries[index + 1] : 0;
      FERRY_RETURN_IF_ERROR(MapCluster(cluster, pos, to, table->entries[index], bitmap, emit));
      pos = to;
    }
  }
  if (pending && status.ok()) status = fn(*pending);
  return status;
}

Status Qcow2Image::ReadMapping(const Mapping& m, MutableByteView out) {
  switch (m.kind) {
    case ClusterKind::kZero:
      std::memset(out.data(), 0, out.size());
      return Status();
    case ClusterKind::kUnallocated: {
      const uint64_t backed = backing_ == nullptr || m.offset >= backing_->size()
                                  ? 0
                                  : std::min<uint64_t>(out.size(), backing_->size() - m.offset);
      if (backed > 0) FERRY_RETURN_IF_ERROR(backing_->Read(out.first(backed), m.offset));
      std::memset(out.data() + backed, 0, out.size() - backed);
      return Status();
    }
    case ClusterKind::kData: {
      FERRY_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(out, m.host_offset));
      // A cluster the file ends inside of reads as zeros past the end, as in QEMU.
      std::memset(out.data() + n, 0, out.size() - n);
      return Status();
    }
    case ClusterKind::kCompressed: {
      const uint64_t cs = header_.cluster_size();
      if (compressed_host_ != m.host_offset) {
        compressed_host_ = UINT64_MAX;
        compressed_in_.resize(std::min(m.compressed_bytes, file_->size() - m.host_offset));
        auto in = AsWritableBytes(compressed_in_);
        FERRY_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(in, m.host_offset));
        compressed_in_.resize(n);
        compressed_out_.resize(cs);
        FERRY_RETURN_IF_ERROR(DecompressCluster(
            header_.compression, AsBytes(compressed_in_), AsWritableBytes(compressed_out_),
            fmt::format("{} (guest offset {})", path(), AlignDown(m.offset, cs))));
        compressed_host_ = m.host_offset;
      }
      std::memcpy(out.data(), compressed_out_.data() + (m.offset & (cs - 1)), out.size());
      return Status();
    }
  }
  return Status();
}

Status Qcow2Image::Read(MutableByteView out, uint64_t offset) {
  return ForEachMapping(offset, out.size(), [&](const Mapping& m) {
    return ReadMapping(m, out.subspan(m.offset - offset, m.length));
  });
}

Result<cbt::ExtentList> Qcow2Image::DataRanges() {
  cbt::ExtentList behind;
  if (backing_ != nullptr) {
    FERRY_ASSIGN_OR_RETURN(behind, backing_->DataRanges());
  }
  cbt::ExtentList out;
  size_t next = 0;  // First range of `behind` that may still overlap.
  FERRY_RETURN_IF_ERROR(ForEachMapping(0, header_.size, [&](const Mapping& m) {
    if (m.kind == ClusterKind::kData || m.kind == ClusterKind::kCompressed) {
      AppendRange(&out, m.offset, m.length);
    } else if (m.kind == ClusterKind::kUnallocated) {
      const uint64_t end = m.offset + m.length;
      while (next < behind.size() && behind[next].end() <= m.offset) ++next;
      for (size_t i = next; i < behind.size() && behind[i].offset < end; ++i) {
        const uint64_t b = std::max(m.offset, behind[i].offset);
        AppendRange(&out, b, std::min(end, behind[i].end()) - b);
      }
    }
    return Status();
  }));
  return out;
}

}  // namespace ferry::qcow2
