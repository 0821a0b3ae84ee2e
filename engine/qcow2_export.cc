#include "engine/qcow2_export.h"

#include <cstring>

#include <fmt/format.h>
#include <unistd.h>

#include "common/file_io.h"

#include "cbt/changed_list.h"
#include "formats/qcow2/cluster_codec.h"

namespace ferry {

namespace {

// What became of each cluster of a window.
struct Qcow2Window final : PreparedWindow {
  struct Data {
    uint64_t index;  // Guest cluster.
    const std::byte* bytes;
  };
  struct Packed {
    uint64_t index;
    size_t offset;  // In `packed`.
    size_t length;
  };
  std::vector<Data> data;
  std::vector<Packed> compressed;
  std::string packed;  // Compressed clusters back to back.
  std::vector<uint64_t> zeros;
};

// Writes `bytes` at `offset` leaving out whole blocks of zeros, so metadata clusters stay as
// sparse as the data around them. Safe because metadata only ever changes from zero to non-zero
// (the file starts empty; refcounts, table entries and L2 entries are only added).
Status WriteSparse(int fd, std::string_view bytes, uint64_t offset, const std::string& name) {
  constexpr size_t kBlock = 4096;
  for (size_t at = 0; at < bytes.size();) {
    size_t end = std::min(bytes.size(), at + kBlock);
    if (IsAllZero(AsBytes(bytes.substr(at, end - at)))) {
      at = end;
      continue;
    }
    while (end < bytes.size() &&
           !IsAllZero(AsBytes(bytes.substr(end, std::min(kBlock, bytes.size() - end))))) {
      end = std::min(bytes.size(), end + kBlock);
    }
    FERRY_RETURN_IF_ERROR(WriteFullAt(fd, AsBytes(bytes.substr(at, end - at)), offset + at, name));
    at = end;
  }
  return Status();
}

}  // namespace

Result<std::unique_ptr<Qcow2Placer>> Qcow2Placer::Create(const std::string& target, uint64_t size,
                                                         const Qcow2ExportOptions& options) {
  qcow2::WriterOptions w;
  w.size = size;
  w.cluster_bits = options.cluster_bits;
  w.compression = options.compression.value_or(qcow2::Compression::kZlib);
  std::string resolved;
  uint64_t backing_size = 0;
  std::unique_ptr<qcow2::Image> first;
  if (!options.backing.empty()) {
    resolved = qcow2::ResolveBackingPath(target, options.backing);
    auto image = qcow2::OpenImage(resolved);
    if (!image) return Err(image.error().WithContext("--backing " + options.backing));
    w.backing_file = options.backing;
    w.backing_format = std::string((*image)->format());
    backing_size = (*image)->size();
    first = std::move(*image);
  }
  FERRY_ASSIGN_OR_RETURN(auto writer, qcow2::Qcow2Writer::Create(w));
  std::unique_ptr<Qcow2Placer> placer(new Qcow2Placer(std::move(writer), size, options));
  placer->backing_path_ = std::move(resolved);
  placer->backing_size_ = backing_size;
  if (first) placer->backing_pool_.push_back(std::move(first));
  return placer;
}

Result<std::unique_ptr<qcow2::Image>> Qcow2Placer::TakeBacking() {
  {
    std::lock_guard lock(backing_mu_);
    if (!backing_pool_.empty()) {
      auto image = std::move(backing_pool_.back());
      backing_pool_.pop_back();
      return image;
    }
  }
  return qcow2::OpenImage(backing_path_);
}

void Qcow2Placer::ReturnBacking(std::unique_ptr<qcow2::Image> image) {
  std::lock_guard lock(backing_mu_);
  backing_pool_.push_back(std::move(image));
}

Result<std::unique_ptr<PreparedWindow>> Qcow2Placer::Prepare(uint64_t start, MutableByteView buffer,
                                                             const cbt::ExtentList& dirty) {
  const uint64_t cs = cluster_size();
  const uint64_t end = std::min<uint64_t>(start + buffer.size(), size_);
  const uint64_t padded_end = AlignUp(end, cs);  // The last cluster is stored whole.
  // Bytes outside `dirty` are zeros of the volume that the restore did not write: make them so.
  const cbt::ExtentList written = cbt::Normalize(dirty);
  uint64_t at = start;
  for (const cbt::ByteRange& d : written) {
    std::memset(buffer.data() + (at - start), 0, d.offset - at);
    at = d.end();
  }
  std::memset(buffer.data() + (at - start), 0, padded_end - at);

  auto window = std::make_unique<Qcow2Window>();
  std::unique_ptr<qcow2::Image> backing;
  std::string below;
  if (!options_.backing.empty()) {
    FERRY_ASSIGN_OR_RETURN(backing, TakeBacking());
    below.resize(cs);
  }
  std::string compressed;  // One cluster's, reused.
  Status status;
  for (uint64_t c = start; c < padded_end && status.ok(); c += cs) {
    if (options_.only_dirty_clusters && !cbt::Overlaps(written, c, c + cs)) continue;
    const MutableByteView cluster = buffer.subspan(c - start, cs);
    const bool zero = IsAllZero(cluster);
    if (backing != nullptr) {
      // The backing image's view of this cluster (zeros past its end).
      const uint64_t backed = c >= backing_size_ ? 0 : std::min(cs, backing_size_ - c);
      std::memset(below.data() + backed, 0, cs - backed);
      if (backed > 0) {
        status = backing->Read(AsWritableBytes(below).first(backed), c);
        if (!status.ok()) break;
      }
      if (std::memcmp(below.data(), cluster.data(), cs) == 0) continue;  // Inherited.
      if (zero) {
        window->zeros.push_back(c / cs);
        continue;
      }
    } else if (zero) {
      continue;  // Unallocated reads as zeros.
    }
    if (options_.compression) {
      auto n = qcow2::CompressCluster(*options_.compression, cluster, &compressed, cs);
      if (!n) {
        status = n.error();
        break;
      }
      if (*n > 0) {
        window->compressed.push_back({c / cs, window->packed.size(), *n});
        window->packed.append(compressed.data(), *n);
        continue;
      }
    }
    window->data.push_back({c / cs, cluster.data()});
  }
  if (backing != nullptr) ReturnBacking(std::move(backing));
  if (!status.ok()) return Err(status);
  return std::unique_ptr<PreparedWindow>(std::move(window));
}

Status Qcow2Placer::Place(PreparedWindow& prepared, std::vector<Write>* writes) {
  auto& w = static_cast<Qcow2Window&>(prepared);
  const uint64_t cs = cluster_size();
  // Neighbouring clusters of the window go to neighbouring host clusters: one write per run.
  for (size_t i = 0; i < w.data.size();) {
    size_t j = i + 1;
    while (j < w.data.size() && w.data[j].index == w.data[j - 1].index + 1) ++j;
    const uint64_t host = writer_->AllocateClusters(j - i);
    for (size_t k = i; k < j; ++k) writer_->MapData(w.data[k].index, host + (k - i) * cs);
    writes->push_back({host, w.data[i].bytes, static_cast<size_t>((j - i) * cs)});
    i = j;
  }
  if (!w.packed.empty()) {
    const uint64_t host = writer_->AllocateBytes(w.packed.size());
    for (const auto& c : w.compressed) writer_->MapCompressed(c.index, host + c.offset, c.length);
    writes->push_back({host, reinterpret_cast<const std::byte*>(w.packed.data()), w.packed.size()});
  }
  for (uint64_t index : w.zeros) writer_->MapZero(index);
  return Status();
}

Status Qcow2Placer::WriteInitial(int fd, const std::string& name) const {
  return WriteSparse(fd, writer_->Initial(), 0, name);
}

Status Qcow2Placer::Finish(int fd, const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(auto phases, writer_->Finish());
  // The file must end where the image does, also when its last cluster is a run of zeros.
  if (::ftruncate(fd, static_cast<off_t>(writer_->end())) != 0) {
    return Status::FromErrno(errno, "resize " + name);
  }
  for (const auto& phase : phases) {
    for (const qcow2::MetadataWrite& m : phase) {
      FERRY_RETURN_IF_ERROR(WriteSparse(fd, m.bytes, m.offset, name));
    }
    if (::fsync(fd) != 0) return Status::FromErrno(errno, "fsync " + name);
  }
  return Status();
}

}  // namespace ferry
