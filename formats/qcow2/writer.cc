#include "formats/qcow2/writer.h"

#include <fmt/format.h>

#include "common/bytes.h"
#include "common/coding.h"

#include "formats/qcow2/entries.h"

namespace ferry::qcow2 {

namespace {

constexpr uint32_t kRefcountOrder = 4;  // 16-bit refcounts, as QEMU makes them.
constexpr uint32_t kHeaderLength = kV3HeaderLengthWithCompression;

uint64_t DivUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

void PutExtension(std::string* out, uint32_t type, std::string_view data) {
  char head[8];
  EncodeBig32(head, type);
  EncodeBig32(head + 4, static_cast<uint32_t>(data.size()));
  out->append(head, 8);
  out->append(data);
  out->append(AlignUp(data.size(), 8) - data.size(), '\0');
}

}  // namespace

Result<std::unique_ptr<Qcow2Writer>> Qcow2Writer::Create(const WriterOptions& options) {
  if (options.cluster_bits < kMinClusterBits || options.cluster_bits > kMaxClusterBits) {
    return Err(Status::InvalidArgument(
        fmt::format("QCOW2 cluster size 2^{}: must be 512 bytes to 2 MiB", options.cluster_bits)));
  }
  if (options.size > (uint64_t{1} << 61)) {
    return Err(Status::InvalidArgument("QCOW2 virtual size beyond 2 EiB"));
  }
  if (options.backing_file.size() > 1023) {
    return Err(Status::InvalidArgument("QCOW2 backing file name longer than 1023 bytes"));
  }
  std::unique_ptr<Qcow2Writer> w(new Qcow2Writer(options));
  const uint64_t cs = w->cluster_size();
  w->l2_entries_ = cs / 8;
  const uint64_t guest_clusters = DivUp(options.size, cs);
  w->l1_size_ = DivUp(guest_clusters, w->l2_entries_);
  if (w->l1_size_ * 8 > kMaxL1Bytes) {
    return Err(Status::InvalidArgument(fmt::format(
        "a {} byte disk needs an L1 table larger than QEMU opens with {} byte clusters: use "
        "larger clusters",
        options.size, cs)));
  }
  w->l1_clusters_ = std::max<uint64_t>(1, DivUp(w->l1_size_ * 8, cs));

  // Refcount structures sized for the largest file this image can become: every guest cluster
  // stored uncompressed, every L2 table, the metadata, and the refcount blocks themselves.
  const uint64_t per_block = cs * 8 / (1u << kRefcountOrder);
  const uint64_t fixed = 1 + w->l1_clusters_ + guest_clusters + w->l1_size_ + 2;
  uint64_t table = 1, blocks = 1;
  for (;;) {
    const uint64_t b = DivUp(fixed + table + blocks, per_block);
    const uint64_t t = DivUp(b * 8, cs);
    if (b == blocks && t == table) break;
    blocks = b;
    table = t;
  }
  w->refcount_table_clusters_ = table;
  if (table * cs > kMaxRefcountTableBytes) {
    return Err(Status::InvalidArgument("QCOW2 refcount table too large: use larger clusters"));
  }
  w->refcount_table_offset_ = cs;
  w->l1_offset_ = cs * (1 + table);
  w->refblock0_offset_ = w->l1_offset_ + cs * w->l1_clusters_;
  // Refcount block 0 counts the clusters before it and itself; more blocks only for tiny
  // clusters, where the metadata outgrows one block.
  const uint64_t metadata = w->refblock0_offset_ / cs;
  w->initial_blocks_ = 1;
  while (w->initial_blocks_ * per_block < metadata + w->initial_blocks_) ++w->initial_blocks_;
  w->end_ = w->refblock0_offset_ + w->initial_blocks_ * cs;
  w->refcounts_.assign(w->end_ / cs, 1);
  w->l2_.resize(w->l1_size_);

  // Header, extensions, backing file name: all in cluster 0.
  std::string& h = w->header_cluster_;
  h.assign(kHeaderLength, '\0');
  char* p = h.data();
  EncodeBig32(p, kMagic);
  EncodeBig32(p + 4, 3);
  EncodeBig32(p + 20, options.cluster_bits);
  EncodeBig64(p + 24, options.size);
  EncodeBig32(p + 36, static_cast<uint32_t>(w->l1_size_));
  EncodeBig64(p + 40, w->l1_offset_);
  EncodeBig64(p + 48, w->refcount_table_offset_);
  EncodeBig32(p + 56, static_cast<uint32_t>(table));
  const bool zstd = options.compression == Compression::kZstd;
  EncodeBig64(p + 72, zstd ? kIncompatCompressionType : 0);
  EncodeBig32(p + 96, kRefcountOrder);
  EncodeBig32(p + 100, kHeaderLength);
  p[104] = static_cast<char>(options.compression);
  if (!options.backing_format.empty()) {
    PutExtension(&h, kExtBackingFormat, options.backing_format);
  }
  PutExtension(&h, kExtEnd, {});
  if (!options.backing_file.empty()) {
    EncodeBig64(h.data() + 8, h.size());
    EncodeBig32(h.data() + 16, static_cast<uint32_t>(options.backing_file.size()));
    h += options.backing_file;
  }
  if (h.size() > cs) {
    return Err(Status::InvalidArgument(fmt::format(
        "the QCOW2 header and backing file name take {} bytes: more than a {} byte cluster",
        h.size(), cs)));
  }
  return w;
}

std::string Qcow2Writer::Initial() const {
  const uint64_t cs = cluster_size();
  std::string out(end_, '\0');
  std::copy(header_cluster_.begin(), header_cluster_.end(), out.begin());
  // Refcount table entries for the initial blocks, and their counts: every cluster so far.
  const uint64_t per_block = cs * 8 / (1u << kRefcountOrder);
  for (uint64_t b = 0; b < initial_blocks_; ++b) {
    EncodeBig64(out.data() + refcount_table_offset_ + 8 * b, refblock0_offset_ + b * cs);
  }
  for (uint64_t c = 0; c < end_ / cs; ++c) {
    const uint64_t b = c / per_block;
    EncodeBig16(out.data() + refblock0_offset_ + b * cs + 2 * (c % per_block), 1);
  }
  return out;
}

uint64_t Qcow2Writer::AllocateClusters(uint64_t n) {
  const uint64_t host = AlignUp(end_, cluster_size());
  end_ = host + n * cluster_size();
  return host;
}

uint64_t Qcow2Writer::AllocateBytes(uint64_t n) {
  const uint64_t host = end_;
  end_ += n;
  return host;
}

void Qcow2Writer::Reference(uint64_t host, uint64_t length) {
  const uint64_t first = host / cluster_size();
  const uint64_t last = (host + length - 1) / cluster_size();
  if (refcounts_.size() <= last) refcounts_.resize(last + 1, 0);
  for (uint64_t c = first; c <= last; ++c) ++refcounts_[c];
}

uint64_t* Qcow2Writer::L2Entry(uint64_t index) {
  auto& table = l2_[index / l2_entries_];
  if (table == nullptr) table = std::make_unique<uint64_t[]>(l2_entries_);  // Zeroed.
  return &table[index % l2_entries_];
}

void Qcow2Writer::MapData(uint64_t index, uint64_t host) {
  *L2Entry(index) = host | kCopiedFlag;
  Reference(host, cluster_size());
  ++data_clusters_;
}

void Qcow2Writer::MapCompressed(uint64_t index, uint64_t host, uint64_t length) {
  *L2Entry(index) = EncodeCompressed(host, length, options_.cluster_bits);
  Reference(host, length);
  ++compressed_clusters_;
}

void Qcow2Writer::MapZero(uint64_t index) { *L2Entry(index) = kZeroFlag; }

Result<std::array<std::vector<MetadataWrite>, 3>> Qcow2Writer::Finish() {
  const uint64_t cs = cluster_size();
  std::array<std::vector<MetadataWrite>, 3> phases;
  // Phase 1: the L2 tables, appended.
  std::string l1(l1_clusters_ * cs, '\0');
  for (uint64_t i = 0; i < l2_.size(); ++i) {
    if (l2_[i] == nullptr) continue;
    const uint64_t host = AllocateClusters(1);
    Reference(host, cs);
    EncodeBig64(l1.data() + 8 * i, host | kCopiedFlag);
    MetadataWrite w{host, std::string(cs, '\0')};
    for (uint64_t e = 0; e < l2_entries_; ++e) EncodeBig64(w.bytes.data() + 8 * e, l2_[i][e]);
    phases[0].push_back(std::move(w));
  }
  // Refcount blocks for every cluster, themselves included: the initial ones (rewritten in
  // place) and as many appended as the file now needs.
  end_ = AlignUp(end_, cs);
  const uint64_t per_block = cs * 8 / (1u << kRefcountOrder);
  uint64_t appended = 0;
  for (;;) {
    const uint64_t blocks = DivUp(end_ / cs + appended, per_block);
    const uint64_t need = blocks > initial_blocks_ ? blocks - initial_blocks_ : 0;
    if (need <= appended) break;
    appended = need;
  }
  std::vector<uint64_t> block_offsets;
  for (uint64_t b = 0; b < initial_blocks_; ++b)
    block_offsets.push_back(refblock0_offset_ + b * cs);
  for (uint64_t b = 0; b < appended; ++b) {
    const uint64_t host = AllocateClusters(1);
    Reference(host, cs);
    block_offsets.push_back(host);
  }
  if (block_offsets.size() * 8 > refcount_table_clusters_ * cs) {
    return Err(
        Status::InvalidArgument("QCOW2 refcount table overflow (a bug: it is sized for "
                                "the largest image)"));
  }
  refcounts_.resize(block_offsets.size() * per_block, 0);
  std::string table(refcount_table_clusters_ * cs, '\0');
  for (uint64_t b = 0; b < block_offsets.size(); ++b) {
    EncodeBig64(table.data() + 8 * b, block_offsets[b]);
    MetadataWrite w{block_offsets[b], std::string(cs, '\0')};
    for (uint64_t e = 0; e < per_block; ++e) {
      const uint32_t count = refcounts_[b * per_block + e];
      if (count > 0xffff) {
        return Err(Status::InvalidArgument(fmt::format(
            "QCOW2 host cluster {} would have {} references", b * per_block + e, count)));
      }
      EncodeBig16(w.bytes.data() + 2 * e, static_cast<uint16_t>(count));
    }
    phases[b < initial_blocks_ ? 1 : 0].push_back(std::move(w));
  }
  phases[1].push_back({refcount_table_offset_, std::move(table)});
  phases[2].push_back({l1_offset_, std::move(l1)});
  return phases;
}

}  // namespace ferry::qcow2
