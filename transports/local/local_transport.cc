#include "transports/local/local_transport.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <random>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"

namespace ferry {

namespace {

// Creates `dir` and its parents, fsyncing each new directory's parent so the entry is durable.
Status MakeDirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return Status();
  const std::string parent = std::filesystem::path(dir).parent_path().string();
  FERRY_RETURN_IF_ERROR(MakeDirs(parent));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + dir);
  }
  return FsyncDirectory(parent);
}

std::string TempSuffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:x}-{:x}-{:x}", ::getpid(), counter.fetch_add(1), rng() & 0xffffff);
}

}  // namespace

Result<std::unique_ptr<LocalTransport>> LocalTransport::Open(const std::string& root) {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) return Err(Status::FromErrno(errno, root));
  if (!S_ISDIR(st.st_mode)) return Err(Status::InvalidArgument(root + " is not a directory"));
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return std::unique_ptr<LocalTransport>(new LocalTransport(r));
}

std::string LocalTransport::PathOf(std::string_view name) const {
  return root_ + "/" + std::string(name);
}

Status LocalTransport::Put(std::string_view name, ByteView data, bool exclusive) {
  const std::string path = PathOf(name);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  FERRY_RETURN_IF_ERROR(MakeDirs(dir));
  const std::string tmp = dir + "/.tmp-" + TempSuffix();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  Status s = WriteFull(fd, data, path);
  if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno(errno, "fsync " + path);
  ::close(fd);
  if (s.ok()) {
    if (exclusive) {
      // link(2) fails if the target exists, which rename(2) would silently replace.
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        s = errno == EEXIST ? Status::AlreadyExists(std::string(name) + " already exists")
                            : Status::FromErrno(errno, "link " + path);
      }
      ::unlink(tmp.c_str());
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
      s = Status::FromErrno(errno, "rename " + path);
    }
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDirectory(dir);
}

namespace {

// Writes to a temporary file beside the target; Commit() fsyncs and renames it into place.
class LocalObjectWriter final : public ObjectWriter {
 public:
  LocalObjectWriter(std::string path, std::string tmp, int fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}
  ~LocalObjectWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  Status Append(ByteView data) override {
    FERRY_RETURN_IF_ERROR(WriteFull(fd_, data, path_));
    size_ += data.size();
    return Status();
  }

  Status Commit() override {
    if (::fsync(fd_) != 0) return Status::FromErrno(errno, "fsync " + path_);
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      return Status::FromErrno(errno, "rename " + path_);
    }
    committed_ = true;
    return FsyncDirectory(std::filesystem::path(path_).parent_path().string());
  }

  uint64_t size() const override { return size_; }

 private:
  std::string path_;
  std::string tmp_;
  int fd_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

Result<std::unique_ptr<ObjectWriter>> LocalTransport::Create(std::string_view name,
                                                             uint64_t /*size_hint*/) {
  const std::string path = PathOf(name);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  FERRY_RETURN_IF_ERROR(MakeDirs(dir));
  std::string tmp = dir + "/.tmp-" + TempSuffix();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Err(Status::FromErrno(errno, "create " + tmp));
  return std::unique_ptr<ObjectWriter>(new LocalObjectWriter(path, std::move(tmp), fd));
}

Result<std::string> LocalTransport::Get(std::string_view name) {
  const std::string path = PathOf(name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Err(Status::FromErrno(errno, path));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Err(Status::FromErrno(err, "read " + path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<size_t> LocalTransport::ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) {
  const std::string path = PathOf(name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Err(Status::FromErrno(errno, path));
  Result<size_t> n = ReadFullAt(fd, dst, offset, path);
  ::close(fd);
  return n;
}

Result<uint64_t> LocalTransport::Size(std::string_view name) {
  const std::string path = PathOf(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Err(Status::FromErrno(errno, path));
  return static_cast<uint64_t>(st.st_size);
}

Status LocalTransport::Walk(
    std::string_view prefix,
    const std::function<void(std::string name, const std::filesystem::directory_entry&)>& visit)
    const {
  const std::filesystem::path base = PathOf(prefix);
  std::error_code ec;
  if (!std::filesystem::exists(base, ec)) return Status();
  for (auto it = std::filesystem::recursive_directory_iterator(base, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    if (it->path().filename().string().starts_with(".tmp-")) continue;
    visit(std::filesystem::relative(it->path(), root_).string(), *it);
  }
  if (ec) return Status::FromErrno(ec.value(), "list " + base.string());
  return Status();
}

Result<std::vector<std::string>> LocalTransport::List(std::string_view prefix) {
  std::vector<std::string> out;
  FERRY_RETURN_IF_ERROR(
      Walk(prefix, [&](std::string name, const auto&) { out.push_back(std::move(name)); }));
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<ListedObject>> LocalTransport::ListWithSizes(std::string_view prefix) {
  std::vector<ListedObject> out;
  FERRY_RETURN_IF_ERROR(Walk(prefix, [&](std::string name, const auto& entry) {
    std::error_code ec;  // One deleted since the directory was read is not listed.
    const uint64_t size = entry.file_size(ec);
    if (!ec) out.push_back({std::move(name), size});
  }));
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<LeftoverTemporary>> LocalTransport::ListLeftovers() {
  std::vector<LeftoverTemporary> out;
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().filename().string().rfind(".tmp-", 0) != 0) continue;
    std::error_code stat_ec;  // One that vanished meanwhile (its writer renamed it) is no leftover.
    const auto size = it->file_size(stat_ec);
    const auto written = it->last_write_time(stat_ec);
    if (stat_ec) continue;
    out.push_back({std::filesystem::relative(it->path(), root_).string(),
                   size,
                   std::chrono::duration_cast<std::chrono::seconds>(now - written),
                   {}});
  }
  if (ec) return Err(Status::FromErrno(ec.value(), "list leftovers in " + root_));
  return out;
}

Status LocalTransport::Remove(std::string_view name) {
  const std::string path = PathOf(name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove " + path);
  }
  return Status();
}

}  // namespace ferry
