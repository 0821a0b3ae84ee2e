#include "engine/guest_copy.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"

#include "engine/io/file_handle.h"
#include "engine/restore_target.h"
#include "engine/volume_source.h"
#include "engine/window_writer.h"

namespace ferry {

namespace {

// A window of the guest and the pieces of it to copy (whole granules, clipped to the end).
struct Window {
  uint64_t start = 0;
  cbt::ExtentList pieces;
  uint64_t bytes = 0;
};

// Calls fn(begin, end) for each range widened to whole granules and cut at `size`; widened
// ranges may meet, so nothing is passed twice.
template <typename Fn>
void ForEachWidened(const cbt::ExtentList& ranges, uint64_t size, uint64_t granule, Fn fn) {
  uint64_t taken = 0;
  for (const cbt::ByteRange& r : ranges) {
    const uint64_t begin = std::max(taken, AlignDown(r.offset, granule));
    const uint64_t end = std::min(size, AlignUp(r.end(), granule));
    if (end > begin) fn(begin, end);
    taken = std::max(taken, end);
  }
}

std::vector<Window> PlanWindows(const cbt::ExtentList& ranges, uint64_t size, uint64_t granule,
                                uint64_t window) {
  std::vector<Window> out;
  ForEachWidened(ranges, size, granule, [&](uint64_t at, uint64_t end) {
    while (at < end) {
      const uint64_t start = AlignDown(at, window);
      const uint64_t piece_end = std::min(end, start + window);
      if (out.empty() || out.back().start != start) out.push_back({start, {}, 0});
      Window& w = out.back();
      if (!w.pieces.empty() && w.pieces.back().end() == at) {
        w.pieces.back().length += piece_end - at;
      } else {
        w.pieces.push_back({at, piece_end - at});
      }
      w.bytes += piece_end - at;
      at = piece_end;
    }
  });
  return out;
}

// The open target: a new file or an existing device, and what to undo on failure.
struct Target {
  io::FileHandle direct;
  io::FileHandle buffered;
  bool created = false;
};

Result<Target> OpenTarget(const std::string& path, uint64_t size, bool qcow2, bool delta) {
  Target t;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  const bool file = exists && S_ISREG(st.st_mode);
  if (delta) {
    FERRY_RETURN_IF_ERROR(CheckDeltaTarget(path, exists, st, qcow2));
  } else if (exists) {
    if (!S_ISBLK(st.st_mode)) return Err(Status::AlreadyExists(path + " exists"));
    if (qcow2) {
      return Err(Status::InvalidArgument(path + " is a block device: a QCOW2 image is a file"));
    }
  } else {
    t.created = true;
  }
  FERRY_ASSIGN_OR_RETURN(
      t.direct, io::FileHandle::Open(path, {.write = true, .create = t.created, .direct = true}));
  FERRY_ASSIGN_OR_RETURN(t.buffered, io::FileHandle::Open(path, {.write = true}));
  if (delta && file) {
    if (::ftruncate(t.buffered.fd(), static_cast<off_t>(size)) != 0) {
      return Err(Status::FromErrno(errno, "resize " + path));
    }
  } else if (!t.created) {
    FERRY_ASSIGN_OR_RETURN(uint64_t device_size, t.buffered.Size());
    if (device_size < size) {
      return Err(Status::InvalidArgument(fmt::format(
          "{} holds {} bytes, the volume {}: it does not fit", path, device_size, size)));
    }
  } else if (!qcow2 && ::ftruncate(t.buffered.fd(), static_cast<off_t>(size)) != 0) {
    return Err(Status::FromErrno(errno, "resize " + path));
  }
  return t;
}

// Delta: reads the target's blocks under the pieces of window `w` into `buf` (whole blocks, so
// the reads work on an O_DIRECT descriptor; zeros past the end of the file). The rest of the
// window is neither read nor written.
Status ReadTargetPieces(int fd, const std::string& target, const Window& w, MutableByteView buf) {
  for (const cbt::ByteRange& p : w.pieces) {
    const uint64_t begin = AlignDown(p.offset, WindowWriter::kBlock);
    const size_t len = static_cast<size_t>(AlignUp(p.end(), WindowWriter::kBlock) - begin);
    const MutableByteView blocks = buf.subspan(begin - w.start, len);
    FERRY_ASSIGN_OR_RETURN(size_t got, ReadFullAt(fd, blocks, begin, target));
    std::memset(blocks.data() + got, 0, len - got);
  }
  return Status();
}

// Delta: `buf` holds the target's blocks of window `w` (ending at `end`). Reads the guest's
// bytes of each piece into `scratch`, copies the blocks that differ over `buf`, and returns them.
Result<cbt::ExtentList> KeepWhatDiffers(const Window& w, uint64_t end, MutableByteView buf,
                                        const GuestReadFn& read, std::string& scratch) {
  cbt::ExtentList differ;
  for (const cbt::ByteRange& p : w.pieces) {
    scratch.resize(p.length);
    FERRY_RETURN_IF_ERROR(read(AsWritableBytes(scratch), p.offset));
    for (uint64_t at = p.offset; at < p.end();) {
      const uint64_t block_end =
          std::min({AlignDown(at, WindowWriter::kBlock) + WindowWriter::kBlock, p.end(), end});
      const size_t n = static_cast<size_t>(block_end - at);
      std::byte* mine = buf.data() + (at - w.start);
      const char* theirs = scratch.data() + (at - p.offset);
      if (std::memcmp(mine, theirs, n) != 0) {
        std::memcpy(mine, theirs, n);
        if (!differ.empty() && differ.back().end() == at) {
          differ.back().length += n;
        } else {
          differ.push_back({at, n});
        }
      }
      at = block_end;
    }
  }
  return differ;
}

}  // namespace

GuestReaderFactory SourceReaders(const VolumeSource& source) {
  auto open_mu = std::make_shared<std::mutex>();
  return [&source, open_mu]() -> Result<GuestReadFn> {
    std::unique_ptr<VolumeSource> own;
    {
      std::lock_guard lock(*open_mu);
      FERRY_ASSIGN_OR_RETURN(own, source.OpenAgain());
    }
    std::shared_ptr<VolumeSource> shared(std::move(own));
    return GuestReadFn(
        [shared](MutableByteView out, uint64_t offset) { return shared->ReadAt(out, offset); });
  };
}

uint64_t CopyGranularity(const GuestCopyOptions& options) {
  return options.qcow2 ? uint64_t{1} << options.qcow2->cluster_bits : WindowWriter::kBlock;
}

uint64_t BytesToCopy(const cbt::ExtentList& ranges, uint64_t size, uint64_t granularity) {
  uint64_t total = 0;
  ForEachWidened(ranges, size, granularity,
                 [&](uint64_t begin, uint64_t end) { total += end - begin; });
  return total;
}

Result<GuestCopyResult> CopyGuestRanges(const std::string& target, uint64_t size,
                                        const cbt::ExtentList& ranges,
                                        const GuestReaderFactory& open_reader,
                                        const GuestCopyOptions& options) {
  ProgressTicker ticker;
  std::unique_ptr<Qcow2Placer> placer;
  if (options.qcow2) {
    FERRY_ASSIGN_OR_RETURN(placer, Qcow2Placer::Create(target, size, *options.qcow2));
  }
  const uint64_t granule = CopyGranularity(options);
  const uint64_t window_size = AlignUp(std::max<uint64_t>(options.window, granule), granule);
  FERRY_RETURN_IF_ERROR(WindowWriter::CheckWindowSize(window_size));
  const std::vector<Window> windows = PlanWindows(ranges, size, granule, window_size);
  const uint64_t total = BytesToCopy(ranges, size, granule);

  FERRY_ASSIGN_OR_RETURN(Target t,
                         OpenTarget(target, size, options.qcow2.has_value(), options.delta));
  // From here on a failure removes a file this call created.
  auto undo = [&](const Status& s) {
    if (t.created) ::unlink(target.c_str());
    return s;
  };
  if (placer) {
    if (Status s = placer->WriteInitial(t.buffered.fd(), target); !s.ok()) return Err(undo(s));
  }
  const unsigned threads =
      options.threads != 0 ? options.threads : std::max(2u, std::thread::hardware_concurrency());
  auto writer = WindowWriter::Create({.fd = t.direct.fd(),
                                      .direct = t.direct.direct(),
                                      .tail_fd = t.buffered.fd(),
                                      .size = size,
                                      .name = target,
                                      .placer = placer.get()},
                                     window_size, threads * 2 + 2);
  if (!writer) return Err(undo(writer.error()));
  WindowWriter& out = **writer;

  std::atomic<size_t> next{0};
  std::atomic<unsigned> running{threads};
  std::atomic<uint64_t> compared{0};
  auto worker = [&] {
    auto read = open_reader();
    Status s = read.has_value() ? Status() : read.error();
    std::string scratch;  // Delta: the guest's bytes of a piece.
    for (size_t i; s.ok() && !out.failed() && (i = next.fetch_add(1)) < windows.size();) {
      if (options.cancel != nullptr && options.cancel->cancelled()) {
        s = Status::Cancelled("writing " + target + " was cancelled");
        break;
      }
      const Window& w = windows[i];
      const WindowRange range{i, w.start, std::min(w.start + window_size, size)};
      const MutableByteView buf = out.Acquire(range);
      if (buf.empty()) break;  // The writer failed; its error is reported.
      cbt::ExtentList dirty;
      if (options.delta) {
        s = ReadTargetPieces(t.direct.fd(), target, w, buf);
        if (s.ok()) {
          auto differ = KeepWhatDiffers(w, range.end, buf, *read, scratch);
          if (differ.has_value()) {
            dirty = std::move(*differ);
            compared.fetch_add(w.bytes, std::memory_order_relaxed);
          } else {
            s = differ.error();
          }
        }
      } else {
        for (const cbt::ByteRange& p : w.pieces) {
          s = (*read)(buf.subspan(p.offset - w.start, p.length), p.offset);
          if (!s.ok()) break;
        }
        dirty = w.pieces;
      }
      if (!s.ok()) {
        out.Release(buf);
        break;
      }
      out.Commit(range, buf, std::move(dirty), w.bytes);
    }
    if (!s.ok()) out.Fail(s);
    running.fetch_sub(1);
  };
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
  Status s = out.Run([&] { return running.load() == 0; },
                     [&](uint64_t covered) {
                       if (options.progress) options.progress({covered, total, ticker.seconds()});
                     });
  for (auto& thread : pool) thread.join();
  if (s.ok() && placer) {
    s = placer->Finish(t.buffered.fd(), target);
  } else if (s.ok() && ::fsync(t.buffered.fd()) != 0) {
    s = Status::FromErrno(errno, "fsync " + target);
  }
  if (!s.ok()) return Err(undo(s));

  GuestCopyResult result;
  result.bytes_read = total;
  if (placer) result.clusters = placer->data_clusters() + placer->compressed_clusters();
  result.bytes_written = out.bytes_written();
  result.bytes_compared = compared.load();
  result.io_backend = out.backend();
  result.seconds = ticker.seconds();
  if (options.progress) options.progress({total, total, result.seconds, true});
  return result;
}

}  // namespace ferry
