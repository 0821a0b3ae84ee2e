#include "engine/restore.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"

#include "cbt/allocation.h"
#include "cbt/changed_list.h"
#include "engine/io/file_handle.h"
#include "engine/restore_target.h"
#include "engine/window_writer.h"
#include "formats/repo/pack.h"
#include "formats/repo/volume_map.h"

namespace ferry {

namespace {

using repo::Extent;
using repo::ExtentKind;

struct Codecs {
  std::unique_ptr<repo::Sealer> sealer;
  std::unique_ptr<codec::ChunkIdHasher> hasher;
  codec::ZstdDecompressor dec;
};

Result<std::unique_ptr<Codecs>> MakeCodecs(const Repository& repo) {
  auto c = std::make_unique<Codecs>();
  FERRY_ASSIGN_OR_RETURN(c->sealer, repo.NewSealer());
  FERRY_ASSIGN_OR_RETURN(c->hasher, repo.NewHasher());
  return c;
}

// A chunk of a window to fetch: its extent (an index into the volume's extents) and where it is.
struct Needed {
  size_t extent;
  const ChunkLocation* loc;
};

// A ranged read of one pack covering needed chunks of a window.
struct PackRead {
  repo::ObjectId pack;
  uint64_t start = 0;
  uint64_t length = 0;
  std::vector<Needed> chunks;
};

}  // namespace

RestoreShape ShapeRestore(const RestoreOptions& options, const TransportCapabilities& caps,
                          unsigned cores) {
  constexpr size_t kWindow = 4u << 20;
  constexpr size_t kWindowsInFlight = 64u << 20;  // Of all workers together.
  constexpr size_t kBufferMemory = 96u << 20;     // Where two buffers a worker would exceed it.
  RestoreShape shape;
  shape.window = options.window != 0 ? options.window : std::max(kWindow, caps.efficient_read);
  shape.max_read = options.max_read != 0 ? options.max_read : 2 * shape.window;
  // Workers wait on pack reads as much as they decode: over a network, enough of them to keep
  // the transport's requests in flight.
  const auto by_memory =
      static_cast<unsigned>(std::max<size_t>(1, kWindowsInFlight / shape.window));
  shape.threads = options.threads != 0
                      ? options.threads
                      : std::max({2u, cores, std::min({caps.parallelism, 8u, by_memory})});
  // Enough window buffers that every worker has one to fill while others are being written.
  const auto within = static_cast<unsigned>(kBufferMemory / shape.window);
  shape.buffers = std::max(shape.threads + 2, std::min(shape.threads * 2 + 2, within));
  return shape;
}

std::vector<uint64_t> CutWindowsAtChunks(const std::vector<Extent>& extents, uint64_t size,
                                         size_t window) {
  std::vector<uint64_t> bounds;
  auto containing = [&](uint64_t offset) {  // The extent holding `offset` (extents tile [0, size)).
    return std::upper_bound(extents.begin(), extents.end(), offset,
                            [](uint64_t v, const Extent& e) { return v < e.offset + e.length; });
  };
  for (uint64_t start = 0; start < size;) {
    bounds.push_back(start);
    // A window on, at a block boundary; or before the chunk that straddles that.
    uint64_t end = std::min(AlignDown(start + window, WindowWriter::kBlock), size);
    if (end < size) {
      const auto e = containing(end);
      if (e != extents.end() && e->kind == ExtentKind::kChunk && e->offset < end &&
          e->offset > start) {
        end = e->offset;
      }
    }
    start = end;
  }
  bounds.push_back(size);
  return bounds;
}

Result<std::vector<Extent>> LoadVolumeMap(Repository& repository,
                                          const repo::SnapshotVolume& volume) {
  std::vector<codec::ChunkId> ids;
  for (const repo::MapPageRef& ref : volume.pages) ids.push_back(ref.id);
  auto what = [&](size_t i) {
    return fmt::format("map page {} of volume {}", ids[i].ToHex().substr(0, 16), volume.name);
  };
  std::vector<std::vector<Extent>> pages(ids.size());
  auto decode = [&](size_t i, std::string& page) -> Status {
    FERRY_ASSIGN_OR_RETURN(pages[i], repo::DecodeMapPage(page, what(i)));
    return Status();
  };
  FERRY_RETURN_IF_ERROR(repository.ReadChunks(ids, what, decode));
  std::vector<Extent> extents;
  for (const auto& part : pages) extents.insert(extents.end(), part.begin(), part.end());
  FERRY_RETURN_IF_ERROR(repo::CheckTiling(extents, volume.size, "volume " + volume.name));
  return extents;
}

namespace {

// What every restore worker shares.
struct WindowJob {
  Repository& repository;
  const std::vector<Extent>& extents;
  const RestoreOptions& options;
  WindowWriter& writer;
  uint64_t size;
  bool device;
  int fd;       // The target, for delta reads of whole windows (aligned when `direct`).
  int tail_fd;  // The target, buffered, for unaligned reads.
  std::string target;
  std::atomic<uint64_t> chunks{0};
  std::atomic<uint64_t> compared{0};
  std::atomic<uint64_t> pack_reads{0};
  std::atomic<uint64_t> pack_bytes_read{0};
};

// Restores one window: in delta mode, reads the target's window and keeps what matches;
// fetches and decodes the other chunks into the window buffer and commits it.
class WindowRestorer {
 public:
  explicit WindowRestorer(WindowJob& job) : job_(job) {}

  Status Init() {
    FERRY_ASSIGN_OR_RETURN(codecs_, MakeCodecs(job_.repository));
    return Status();
  }

  Status Restore(const WindowRange& w) {
    const RestoreOptions& o = job_.options;
    const uint64_t start = w.start;
    const uint64_t end = w.end;
    // The first extent that ends after `start` (the extents tile the volume in order).
    const auto& ex = job_.extents;
    size_t first = static_cast<size_t>(
        std::upper_bound(ex.begin(), ex.end(), start,
                         [](uint64_t v, const Extent& e) { return v < e.offset + e.length; }) -
        ex.begin());
    size_t last = first;
    bool any_chunk = false;
    while (last < ex.size() && ex[last].offset < end) {
      any_chunk |= ex[last].kind == ExtentKind::kChunk;
      ++last;
    }
    const bool changed = !o.target_changes || cbt::Overlaps(*o.target_changes, start, end);
    if ((o.delta && !changed) || (!o.delta && !job_.device && !any_chunk)) {
      job_.writer.Commit(w, {}, {}, end - start);  // Nothing to read or write here.
      return Status();
    }
    const MutableByteView buf = job_.writer.Acquire(w);
    if (buf.empty()) return Status();  // The writer failed; its error is reported.
    Status s = Fill(start, end, first, last, buf);
    if (!s.ok()) {
      job_.writer.Release(buf);
      return s;
    }
    job_.writer.Commit(w, buf, std::move(dirty_), end - start);
    dirty_.clear();
    return Status();
  }

 private:
  // `buf` holds the window's blocks: its byte 0 is volume offset WindowWriter::BufferBase(start).
  Status Fill(uint64_t start, uint64_t end, size_t first, size_t last, MutableByteView buf) {
    const RestoreOptions& o = job_.options;
    const uint64_t base = WindowWriter::BufferBase(start);
    dirty_.clear();
    needed_.clear();
    if (o.delta) {
      // Whole blocks, so the read works on an O_DIRECT descriptor; zeros past end of file.
      const size_t len = static_cast<size_t>(AlignUp(end, WindowWriter::kBlock) - base);
      FERRY_ASSIGN_OR_RETURN(size_t got, ReadFullAt(job_.fd, buf.first(len), base, job_.target));
      std::memset(buf.data() + got, 0, len - got);
      job_.compared.fetch_add(end - start, std::memory_order_relaxed);
    }
    auto piece_of = [&](const Extent& e) {
      const uint64_t b = std::max(e.offset, start);
      const uint64_t f = std::min(e.offset + e.length, end);
      return cbt::ByteRange{b, f - b};
    };
    for (size_t i = first; i < last; ++i) {
      const Extent& e = job_.extents[i];
      const cbt::ByteRange piece = piece_of(e);
      std::byte* at = buf.data() + (piece.offset - base);
      const bool may_differ =
          !o.target_changes || cbt::Overlaps(*o.target_changes, e.offset, e.offset + e.length);
      if (e.kind == ExtentKind::kChunk) {
        if (o.delta) {
          if (!may_differ) continue;
          FERRY_ASSIGN_OR_RETURN(bool same, TargetHolds(e, piece, at));
          if (same) continue;
        }
        const ChunkLocation* loc = job_.repository.Find(e.id);
        if (loc == nullptr) {
          return Status::Corruption("chunk " + e.id.ToHex() + " is not in the index");
        }
        needed_.push_back({i, loc});
        continue;
      }
      // Zeros or a hole.
      if (o.delta) {
        if (may_differ && !IsAllZero({at, piece.length})) {
          std::memset(at, 0, piece.length);
          dirty_.push_back(piece);
        }
      } else if (job_.device) {
        std::memset(at, 0, piece.length);
        dirty_.push_back(piece);
      } else {
        // A fresh file reads zeros here; only blocks shared with a chunk are written, so only
        // the partial blocks at the ends need zeroing in the (reused) buffer.
        const uint64_t head_end =
            std::min(piece.end(), AlignUp(piece.offset, WindowWriter::kBlock));
        std::memset(at, 0, head_end - piece.offset);
        const uint64_t tail_begin =
            std::max(head_end, AlignDown(piece.end(), WindowWriter::kBlock));
        std::memset(buf.data() + (tail_begin - base), 0, piece.end() - tail_begin);
      }
    }
    if (needed_.empty()) return Status();
    unverified_.clear();
    views_.clear();
    for (const PackRead& read : PlanReads()) {
      if (o.cancel != nullptr && o.cancel->cancelled()) {
        return Status::Cancelled("restore was cancelled");
      }
      FERRY_RETURN_IF_ERROR(FetchInto(read, start, end, buf));
    }
    return VerifyDecoded();
  }

  // Checks the ids of the chunks FetchInto decoded into the window, all at once: HashMany
  // hashes two chunks at once where the CPU allows (sha256_pair.h), and a window's chunks are
  // exactly such a batch. Nothing of the window is written before this passes.
  Status VerifyDecoded() {
    ids_.resize(views_.size());
    codecs_->hasher->HashMany(views_, ids_);
    for (size_t i = 0; i < unverified_.size(); ++i) {
      const Extent& e = job_.extents[unverified_[i].extent];
      if (ids_[i] != e.id) {
        return Status::Corruption(fmt::format("{} chunk {}: content does not match its id",
                                              repo::PackName(unverified_[i].pack),
                                              e.id.ToHex().substr(0, 16)));
      }
    }
    return Status();
  }

  // Whether the target already holds chunk `e`; `at` is the target's bytes of `piece` (the
  // part of `e` inside this window).
  Result<bool> TargetHolds(const Extent& e, const cbt::ByteRange& piece, const std::byte* at) {
    if (piece.length == e.length) return codecs_->hasher->Hash({at, e.length}) == e.id;
    // The chunk straddles windows: read all of it to compare its id.
    scratch_.resize(e.length);
    FERRY_ASSIGN_OR_RETURN(
        size_t got,
        ReadFullAt(job_.tail_fd, {reinterpret_cast<std::byte*>(scratch_.data()), scratch_.size()},
                   e.offset, job_.target));
    if (got != e.length) return false;
    return codecs_->hasher->Hash(AsBytes(scratch_)) == e.id;
  }

  // Groups the needed chunks by pack and coalesces neighbours into ranged reads.
  std::vector<PackRead> PlanReads() {
    std::sort(needed_.begin(), needed_.end(), [](const Needed& a, const Needed& b) {
      return a.loc->pack != b.loc->pack ? a.loc->pack < b.loc->pack : a.loc->offset < b.loc->offset;
    });
    std::vector<PackRead> reads;
    for (const Needed& l : needed_) {
      const uint64_t end = uint64_t{l.loc->offset} + l.loc->stored_size;
      PackRead* r = reads.empty() ? nullptr : &reads.back();
      const bool joins = r != nullptr && r->pack == l.loc->pack &&
                         end - r->start <= job_.options.max_read &&
                         l.loc->offset <= r->start + r->length + (256u << 10);
      if (!joins) {
        reads.push_back({l.loc->pack, l.loc->offset, 0, {}});
        r = &reads.back();
      }
      r->length = std::max(r->length, end - r->start);
      r->chunks.push_back(l);
    }
    return reads;
  }

  Status FetchInto(const PackRead& read, uint64_t start, uint64_t end, MutableByteView buf) {
    const uint64_t base = WindowWriter::BufferBase(start);
    const std::string pack_name = repo::PackName(read.pack);
    packed_.resize(read.length);
    job_.pack_reads.fetch_add(1, std::memory_order_relaxed);
    job_.pack_bytes_read.fetch_add(read.length, std::memory_order_relaxed);
    FERRY_ASSIGN_OR_RETURN(
        size_t n,
        job_.repository.transport().ReadAt(
            pack_name, read.start, {reinterpret_cast<std::byte*>(packed_.data()), packed_.size()}));
    if (n != packed_.size()) {
      return Status::Corruption(
          fmt::format("{} is truncated: {} bytes at offset {} could not be read", pack_name,
                      packed_.size() - n, read.start + n));
    }
    for (const auto& [i, loc] : read.chunks) {
      const Extent& e = job_.extents[i];
      const std::string what = fmt::format("{} chunk {}", pack_name, e.id.ToHex().substr(0, 16));
      const auto sealed =
          AsBytes(std::string_view(packed_).substr(loc->offset - read.start, loc->stored_size));
      FERRY_RETURN_IF_ERROR(
          codecs_->sealer->Open(AsBytes(repo::ChunkAad(e.id.view())), sealed, &plain_, what));
      if (loc->raw_size != e.length) {
        return Status::Corruption(fmt::format("{}: index says {} bytes, the volume map {}", what,
                                              loc->raw_size, e.length));
      }
      const uint64_t b = std::max(e.offset, start);
      const uint64_t f = std::min(e.offset + e.length, end);
      if (b == e.offset && f == e.offset + e.length) {
        const MutableByteView dest = buf.subspan(e.offset - base, e.length);
        FERRY_RETURN_IF_ERROR(Repository::DecodeChunkUnverified(plain_, codecs_->dec, dest, what));
        views_.push_back({dest.data(), dest.size()});
        unverified_.push_back({i, read.pack});
      } else {
        // Straddles the window: decode whole (to verify it), keep this window's part.
        scratch_.resize(e.length);
        FERRY_RETURN_IF_ERROR(Repository::DecodeChunkInto(
            plain_, e.id, codecs_->dec, *codecs_->hasher,
            {reinterpret_cast<std::byte*>(scratch_.data()), scratch_.size()}, what));
        std::memcpy(buf.data() + (b - base), scratch_.data() + (b - e.offset), f - b);
      }
      dirty_.push_back({b, f - b});
      job_.chunks.fetch_add(1, std::memory_order_relaxed);
    }
    return Status();
  }

  // A chunk decoded into the window whose id VerifyDecoded has yet to check; its bytes are the
  // same entry of views_.
  struct Unverified {
    size_t extent;  // Index into job_.extents.
    repo::ObjectId pack;
  };

  WindowJob& job_;
  std::unique_ptr<Codecs> codecs_;
  cbt::ExtentList dirty_;
  std::vector<Needed> needed_;
  std::vector<Unverified> unverified_;
  std::vector<ByteView> views_;
  std::vector<codec::ChunkId> ids_;
  std::string packed_, plain_, scratch_;
};

// Opens a file or device target of a restore (see Restore): `*direct` for aligned writes
// (O_DIRECT where the file system allows it), `*buffered` for the rest; a QCOW2 target gets its
// placer and `*o`'s window whole clusters. Returns whether the target is a block device.
Result<bool> OpenTarget(const std::string& target, bool exists, const struct stat& st,
                        const repo::SnapshotVolume& volume, RestoreOptions* o,
                        std::unique_ptr<Qcow2Placer>* placer, io::FileHandle* direct,
                        io::FileHandle* buffered, bool* touched) {
  const bool device = exists && S_ISBLK(st.st_mode);
  if (o->delta) {
    FERRY_RETURN_IF_ERROR(CheckDeltaTarget(target, exists, st, o->qcow2.has_value()));
  } else {
    FERRY_RETURN_IF_ERROR(CheckNewTarget(target, exists, st, o->overwrite));
  }
  if (o->qcow2) {
    if (device) {
      return Err(Status::InvalidArgument(target + " is a block device: a QCOW2 image is a file"));
    }
    FERRY_ASSIGN_OR_RETURN(*placer, Qcow2Placer::Create(target, volume.size, *o->qcow2));
    o->window = AlignUp(o->window, (*placer)->cluster_size());  // Whole clusters per window.
  }
  FERRY_ASSIGN_OR_RETURN(*direct, io::FileHandle::Open(target, {.write = true,
                                                                .create = !device && !o->delta,
                                                                .truncate = !device && !o->delta,
                                                                .direct = true}));
  *touched = true;
  FERRY_ASSIGN_OR_RETURN(*buffered, io::FileHandle::Open(target, {.write = true}));
  if (device) {
    FERRY_ASSIGN_OR_RETURN(uint64_t device_size, buffered->Size());
    if (device_size < volume.size) {
      return Err(Status::InvalidArgument(fmt::format(
          "{} holds {} bytes, the volume {}: it does not fit", target, device_size, volume.size)));
    }
  } else if (*placer) {
    FERRY_RETURN_IF_ERROR((*placer)->WriteInitial(buffered->fd(), target));
  } else if (::ftruncate(buffered->fd(), static_cast<off_t>(volume.size)) != 0) {
    return Err(Status::FromErrno(errno, "resize " + target));
  }
  return device;
}

}  // namespace

Result<RestoreResult> Restore(Repository& repository, const repo::Snapshot& snapshot,
                              const std::string& volume_name, const std::string& target,
                              const RestoreOptions& options) {
  const repo::SnapshotVolume* volume = nullptr;
  for (const auto& v : snapshot.volumes) {
    if (volume_name.empty() ? snapshot.volumes.size() == 1 : v.name == volume_name) volume = &v;
  }
  if (volume == nullptr) {
    std::string names;
    for (const auto& v : snapshot.volumes) names += (names.empty() ? "" : ", ") + v.name;
    return Err(Status::NotFound(
        volume_name.empty()
            ? fmt::format("snapshot {} has {} volumes ({}): name one as SNAPSHOT:VOLUME",
                          snapshot.id.ToHex().substr(0, 8), snapshot.volumes.size(), names)
            : fmt::format("snapshot {} has no volume '{}' (it has: {})",
                          snapshot.id.ToHex().substr(0, 8), volume_name, names)));
  }
  RestoreOptions o = options;
  const RestoreShape shape =
      ShapeRestore(o, repository.transport().capabilities(), std::thread::hardware_concurrency());
  o.window = shape.window;
  o.max_read = shape.max_read;
  // Standard output, a pipe or a character device (/dev/null, a tape) take the volume in order.
  struct stat st {};
  const bool to_stdout = target == "-";
  const bool exists = !to_stdout && ::stat(target.c_str(), &st) == 0;
  const bool stream = to_stdout || IsStreamTarget(exists, st);
  const std::string target_name = to_stdout ? "standard output" : target;
  if (stream && o.delta) {
    return Err(Status::InvalidArgument(
        fmt::format("a delta restore rewrites a file or a block device, not {}", target_name)));
  }
  if (stream && o.qcow2) {
    return Err(Status::InvalidArgument(
        fmt::format("a QCOW2 image is written to a file, not {}", target_name)));
  }
  // Before the target is touched (a replaced file is truncated when opened).
  FERRY_RETURN_IF_ERROR(WindowWriter::CheckWindowSize(o.window));
  // From before the index is read until the last chunk is: a prune that starts meanwhile waits
  // for this lock before it deletes a pack the index names (§14.2).
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<RepoLock> lock,
                         RepoLock::Acquire(repository, repo::LockKind::kRead, o.lock_timing));
  FERRY_RETURN_IF_ERROR(repository.LoadIndex(lock->candidate_packs()));
  FERRY_ASSIGN_OR_RETURN(std::vector<Extent> extents, LoadVolumeMap(repository, *volume));

  // Everything from opening the target on. `touched`: the target was opened for writing (a
  // file is created or truncated then).
  bool touched = false;
  auto written = [&]() -> Result<RestoreResult> {
    // Open the target: a new (or, with overwrite, replaced) sparse file, a block device, for a
    // delta restore the existing file or device, or a stream as it is (standard output is open).
    bool device = false;
    std::unique_ptr<Qcow2Placer> placer;
    io::FileHandle direct, buffered;
    if (!stream) {
      FERRY_ASSIGN_OR_RETURN(device, OpenTarget(target, exists, st, *volume, &o, &placer, &direct,
                                                &buffered, &touched));
    } else if (!to_stdout) {
      FERRY_ASSIGN_OR_RETURN(buffered, OpenStreamTarget(target, options.cancel));
    }
    // A delta restore to a file without a change list: where neither the file nor the snapshot
    // holds anything (a hole, or zeros, against a hole), both read zeros; only the rest may differ.
    if (o.delta && !o.target_changes && !device && !stream) {
      FERRY_ASSIGN_OR_RETURN(cbt::ExtentList held,
                             cbt::AllocatedRanges(buffered.fd(), volume->size, target));
      for (const Extent& e : extents) {
        if (e.kind == ExtentKind::kChunk) held.push_back({e.offset, e.length});
      }
      o.target_changes = cbt::Normalize(std::move(held));
    }

    const unsigned threads = shape.threads;
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<WindowWriter> writer,
                           WindowWriter::Create({.fd = to_stdout ? STDOUT_FILENO
                                                       : stream  ? buffered.fd()
                                                                 : direct.fd(),
                                                 .direct = direct.direct(),
                                                 .tail_fd = buffered.fd(),
                                                 .size = volume->size,
                                                 .name = target_name,
                                                 .placer = placer.get(),
                                                 .stream = stream},
                                                o.window, shape.buffers));
    // A stream and an overlay must see every window, zeros included (an overlay's may hide the
    // backing image's data).
    const bool every_window = stream || device || (o.qcow2 && !o.qcow2->backing.empty());
    WindowJob job{repository,  extents,       o,     *writer, volume->size, every_window,
                  direct.fd(), buffered.fd(), target};
    ProgressTicker ticker;
    // A QCOW2 image is placed cluster by cluster: its windows are whole clusters.
    std::vector<uint64_t> bounds;
    if (placer) {
      for (uint64_t start = 0; start < volume->size; start += o.window) bounds.push_back(start);
      bounds.push_back(volume->size);
    } else {
      bounds = CutWindowsAtChunks(extents, volume->size, o.window);
    }
    const uint64_t windows = bounds.size() - 1;
    std::atomic<uint64_t> next_window{0};
    std::atomic<unsigned> running{threads};
    auto worker = [&] {
      WindowRestorer restorer(job);
      Status s = restorer.Init();
      for (uint64_t w; s.ok() && !writer->failed() && (w = next_window.fetch_add(1)) < windows;) {
        if (options.cancel != nullptr && options.cancel->cancelled()) {
          s = Status::Cancelled("restore was cancelled");
          break;
        }
        s = restorer.Restore({w, bounds[w], bounds[w + 1]});
      }
      if (!s.ok()) writer->Fail(s);
      running.fetch_sub(1);
    };
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
    Status s = writer->Run([&] { return running.load() == 0; },
                           [&](uint64_t covered) {
                             if (options.progress) {
                               options.progress({covered, volume->size, ticker.seconds(), false});
                             }
                           });
    for (auto& t : pool) t.join();
    FERRY_RETURN_IF_ERROR(s);
    // O_DIRECT writes are on the device already; fsync flushes its cache, the buffered tail and
    // the file's metadata. A QCOW2 image's metadata follows the data, phase by phase.
    if (placer) {
      FERRY_RETURN_IF_ERROR(placer->Finish(buffered.fd(), target));
    } else if (!stream && ::fsync(buffered.fd()) != 0) {
      return Err(Status::FromErrno(errno, "fsync " + target));
    }
    RestoreResult result;
    result.size = volume->size;
    result.bytes_written = writer->bytes_written();
    result.chunks = job.chunks.load();
    result.bytes_compared = job.compared.load();
    result.io_backend = writer->backend();
    result.direct = direct.direct();
    if (placer) result.clusters = placer->data_clusters() + placer->compressed_clusters();
    result.pack_reads = job.pack_reads.load();
    result.pack_bytes_read = job.pack_bytes_read.load();
    result.shape = shape;
    result.shape.window = o.window;  // Whole clusters, for a QCOW2 image.
    result.seconds = ticker.seconds();
    return result;
  }();
  if (!written) {
    // A file this restore created and could not finish goes: under the name asked for, a
    // partial volume would pass for a restored one. Anything else is said to be unfinished.
    if (touched && !exists && ::unlink(target.c_str()) == 0) {
      return Err(written.error().WithNote("removed the unfinished " + target));
    }
    if (touched && exists) {
      return Err(written.error().WithNote(
          fmt::format("{} is {}: restore it again", target,
                      o.delta ? "partly rolled back" : "left unfinished")));
    }
    return Err(written.error());
  }
  RestoreResult result = std::move(*written);
  // The target is complete: a lock that cannot be removed only goes stale, which is no reason
  // to call the restore failed.
  Status released = lock->Release();
  result.warnings = lock->TakeMessages();
  if (!released.ok()) {
    result.warnings.push_back("could not remove the restore's lock (" + released.ToString() +
                              "); a prune takes it for dead once it is stale");
  }
  if (options.progress) options.progress({volume->size, volume->size, result.seconds, true});
  return result;
}

}  // namespace ferry
