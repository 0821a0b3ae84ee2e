#include "engine/restore.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

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

Status WriteAllAt(int fd, const char* data, size_t len, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, fmt::format("write {} at offset {}", what, offset + done));
    }
    done += static_cast<size_t>(n);
  }
  return Status();
}

// One chunk to restore and every offset it goes to (a volume may repeat a chunk).
struct Wanted {
  const ChunkLocation* loc;
  codec::ChunkId id;
  std::vector<uint64_t> offsets;
};

// A ranged read of one pack covering several wanted chunks.
struct ReadJob {
  repo::ObjectId pack;
  uint64_t start = 0;
  uint64_t length = 0;
  std::vector<const Wanted*> chunks;
};

}  // namespace

Result<std::vector<Extent>> LoadVolumeMap(Repository& repository,
                                          const repo::SnapshotVolume& volume) {
  FERRY_ASSIGN_OR_RETURN(auto c, MakeCodecs(repository));
  std::vector<Extent> extents;
  std::string page;
  for (const repo::MapPageRef& ref : volume.pages) {
    const ChunkLocation* loc = repository.Find(ref.id);
    const std::string what =
        fmt::format("map page {} of volume {}", ref.id.ToHex().substr(0, 16), volume.name);
    if (loc == nullptr) return Err(Status::Corruption(what + " is not in the index"));
    FERRY_RETURN_IF_ERROR(
        repository.ReadChunk(ref.id, *loc, *c->sealer, c->dec, *c->hasher, &page));
    FERRY_ASSIGN_OR_RETURN(auto part, repo::DecodeMapPage(page, what));
    extents.insert(extents.end(), part.begin(), part.end());
  }
  FERRY_RETURN_IF_ERROR(repo::CheckTiling(extents, volume.size, "volume " + volume.name));
  return extents;
}

namespace {

Result<RestoreResult> RestoreToStream(Repository& repository, const std::vector<Extent>& extents,
                                      uint64_t size, int fd, const RestoreOptions& options) {
  FERRY_ASSIGN_OR_RETURN(auto c, MakeCodecs(repository));
  RestoreResult result;
  result.size = size;
  ProgressTicker ticker;
  std::string chunk;
  const std::string zeros(1 << 20, '\0');
  uint64_t at = 0;
  auto write_all = [&](const char* p, size_t n) -> Status {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "write standard output");
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status();
  };
  for (const Extent& e : extents) {
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      return Err(Status::Cancelled("restore was cancelled"));
    }
    if (e.kind == ExtentKind::kChunk) {
      const ChunkLocation* loc = repository.Find(e.id);
      if (loc == nullptr) {
        return Err(Status::Corruption("chunk " + e.id.ToHex() + " is not in the index"));
      }
      FERRY_RETURN_IF_ERROR(
          repository.ReadChunk(e.id, *loc, *c->sealer, c->dec, *c->hasher, &chunk));
      FERRY_RETURN_IF_ERROR(write_all(chunk.data(), chunk.size()));
      result.bytes_written += chunk.size();
      ++result.chunks;
    } else {
      for (uint64_t left = e.length; left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
        FERRY_RETURN_IF_ERROR(write_all(zeros.data(), n));
        left -= n;
      }
    }
    at += e.length;
    if (options.progress && ticker.Due()) options.progress({at, size, ticker.seconds(), false});
  }
  result.seconds = ticker.seconds();
  return result;
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
  FERRY_ASSIGN_OR_RETURN(std::vector<Extent> extents, LoadVolumeMap(repository, *volume));
  if (target == "-")
    return RestoreToStream(repository, extents, volume->size, STDOUT_FILENO, options);

  // Open the target: a new (or, with overwrite, replaced) sparse file, or a block device.
  struct stat st {};
  const bool exists = ::stat(target.c_str(), &st) == 0;
  const bool device = exists && S_ISBLK(st.st_mode);
  if (exists && !device && !options.overwrite) {
    return Err(Status::AlreadyExists(target + " exists (remove it, or pass --overwrite)"));
  }
  int flags = O_WRONLY | O_CLOEXEC;
  if (!device) flags |= O_CREAT | O_TRUNC;
  const int fd = ::open(target.c_str(), flags, 0644);
  if (fd < 0) return Err(Status::FromErrno(errno, "open " + target));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  if (!device && ::ftruncate(fd, static_cast<off_t>(volume->size)) != 0) {
    return Err(Status::FromErrno(errno, "resize " + target));
  }

  // Group the wanted chunks by pack and coalesce neighbours into ranged reads.
  std::map<codec::ChunkId, Wanted> wanted;
  std::vector<const Extent*> zero_extents;
  for (const Extent& e : extents) {
    if (e.kind != ExtentKind::kChunk) {
      if (device) zero_extents.push_back(&e);
      continue;
    }
    const ChunkLocation* loc = repository.Find(e.id);
    if (loc == nullptr) {
      return Err(Status::Corruption("chunk " + e.id.ToHex() + " of volume " + volume->name +
                                    " is not in the index"));
    }
    auto [it, inserted] = wanted.try_emplace(e.id, Wanted{loc, e.id, {}});
    it->second.offsets.push_back(e.offset);
  }
  std::map<repo::ObjectId, std::vector<const Wanted*>> by_pack;
  for (const auto& [id, w] : wanted) by_pack[w.loc->pack].push_back(&w);
  std::vector<ReadJob> jobs;
  for (auto& [pack, list] : by_pack) {
    std::sort(list.begin(), list.end(),
              [](const Wanted* a, const Wanted* b) { return a->loc->offset < b->loc->offset; });
    ReadJob job;
    for (const Wanted* w : list) {
      const uint64_t end = uint64_t{w->loc->offset} + w->loc->stored_size;
      const bool fits = !job.chunks.empty() && end - job.start <= options.max_read &&
                        w->loc->offset <= job.start + job.length + (256u << 10);
      if (!fits && !job.chunks.empty()) {
        jobs.push_back(std::move(job));
        job = ReadJob{};
      }
      if (job.chunks.empty()) {
        job.pack = pack;
        job.start = w->loc->offset;
      }
      job.length = end - job.start;
      job.chunks.push_back(w);
    }
    if (!job.chunks.empty()) jobs.push_back(std::move(job));
  }

  RestoreResult result;
  result.size = volume->size;
  ProgressTicker ticker;
  std::atomic<size_t> next_job{0};
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> chunks{0};
  std::mutex error_mu;
  Status first_error;
  std::atomic<bool> failed{false};
  auto fail = [&](const Status& s) {
    std::lock_guard lock(error_mu);
    if (first_error.ok()) first_error = s;
    failed = true;
  };
  auto worker = [&] {
    auto c = MakeCodecs(repository);
    if (!c) return fail(c.error());
    std::string buf, plain, chunk;
    for (size_t j; !failed && (j = next_job.fetch_add(1)) < jobs.size();) {
      if (options.cancel != nullptr && options.cancel->cancelled()) {
        return fail(Status::Cancelled("restore was cancelled"));
      }
      const ReadJob& job = jobs[j];
      const std::string pack_name = repo::PackName(job.pack);
      buf.resize(job.length);
      auto n = repository.transport().ReadAt(
          pack_name, job.start, {reinterpret_cast<std::byte*>(buf.data()), buf.size()});
      if (!n) return fail(n.error());
      if (*n != buf.size()) {
        return fail(Status::Corruption(
            fmt::format("{} is truncated: {} bytes at offset {} could not be read", pack_name,
                        buf.size() - *n, job.start + *n)));
      }
      for (const Wanted* w : job.chunks) {
        const std::string what = fmt::format("{} chunk {}", pack_name, w->id.ToHex().substr(0, 16));
        const auto sealed =
            AsBytes(std::string_view(buf).substr(w->loc->offset - job.start, w->loc->stored_size));
        Status s =
            c.value()->sealer->Open(AsBytes(repo::ChunkAad(w->id.view())), sealed, &plain, what);
        ByteView bytes;
        if (s.ok()) {
          // Raw chunks are verified and written straight from the decrypted buffer.
          auto decoded = Repository::DecodeChunkPayload(
              plain, w->loc->raw_size, w->id, c.value()->dec, *c.value()->hasher, &chunk, what);
          if (decoded) {
            bytes = *decoded;
          } else {
            s = decoded.error();
          }
        }
        for (uint64_t off : w->offsets) {
          if (!s.ok()) break;
          s = WriteAllAt(fd, reinterpret_cast<const char*>(bytes.data()), bytes.size(), off,
                         target);
          written.fetch_add(bytes.size(), std::memory_order_relaxed);
        }
        if (!s.ok()) return fail(s);
        chunks.fetch_add(1, std::memory_order_relaxed);
      }
    }
  };
  // One per core: measured, more threads only contend on the target file's lock.
  const unsigned threads =
      options.threads != 0 ? options.threads : std::max(2u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
  while (!failed && next_job.load() < jobs.size()) {
    if (options.progress) options.progress({written.load(), volume->size, ticker.seconds(), false});
    std::this_thread::sleep_for(kProgressInterval);
    // Start writeback of what is dirty so far (without waiting), so the disk works while the
    // workers decode and the final fsync is short. One call per interval, from this thread:
    // per-chunk calls from the workers contended on the file and were slower.
    if (!device) ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  for (auto& t : pool) t.join();
  if (failed) return Err(first_error);
  // Devices have no holes: zero ranges must be written.
  const std::string zeros(1 << 20, '\0');
  for (const Extent* e : zero_extents) {
    for (uint64_t left = e->length, off = e->offset; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
      FERRY_RETURN_IF_ERROR(WriteAllAt(fd, zeros.data(), n, off, target));
      left -= n;
      off += n;
    }
  }
  if (::fsync(fd) != 0) return Err(Status::FromErrno(errno, "fsync " + target));
  result.bytes_written = written.load();
  result.chunks = chunks.load();
  result.seconds = ticker.seconds();
  if (options.progress) options.progress({volume->size, volume->size, result.seconds, true});
  return result;
}

}  // namespace ferry
