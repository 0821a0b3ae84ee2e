#include "transports/nfs/nfs_transport.h"

// libnfs.h uses struct timeval without including its header.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <nfsc/libnfs.h>
#include <sys/stat.h>
#include <sys/time.h>

namespace ferry::nfs {
namespace {

std::string RandomHex() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

// libnfs returns -errno; its context holds a message with the server's view.
Status Failed(int rc, nfs_context* ctx, std::string_view what) {
  const int err = rc < 0 ? -rc : EIO;
  const char* detail = ctx != nullptr ? nfs_get_error(ctx) : nullptr;
  if (detail == nullptr || *detail == '\0') return Status::FromErrno(err, what);
  // libnfs' words name the RPC that failed and the server's answer; the errno only its kind.
  return Status::FromErrnoWithMessage(err, fmt::format("{}: {}", what, detail));
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

struct NfsTransport::Impl {
  NfsLocation location;
  NfsOptions options;
  std::string exported;  // What was mounted: "/export".
  std::string base;      // The repository inside it: "" or "/backups/host1".
  std::vector<nfs_context*> all;
  std::vector<nfs_context*> idle;  // GUARDED_BY(mu)
  std::mutex mu;
  std::condition_variable cv;

  ~Impl() {
    for (nfs_context* c : all) nfs_destroy_context(c);
  }

  std::string Uri() const {
    if (location.port == 0) return fmt::format("nfs://{}{}", location.host, location.export_path);
    return fmt::format("nfs://{}:{}{}", location.host, location.port, location.export_path);
  }
  std::string PathOf(std::string_view name) const {
    std::string p = base;
    p.push_back('/');
    p.append(name);
    return p;
  }
  std::string What(std::string_view verb, std::string_view name) const {
    return fmt::format("{} {}/{}", verb, Uri(), name);
  }

  // A connection for the length of one operation.
  class Lease {
   public:
    explicit Lease(Impl& impl) : impl_(impl) {
      std::unique_lock lock(impl_.mu);
      impl_.cv.wait(lock, [&] { return !impl_.idle.empty(); });
      ctx_ = impl_.idle.back();
      impl_.idle.pop_back();
    }
    ~Lease() {
      {
        std::lock_guard lock(impl_.mu);
        impl_.idle.push_back(ctx_);
      }
      impl_.cv.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    nfs_context* get() const { return ctx_; }

   private:
    Impl& impl_;
    nfs_context* ctx_;
  };

  // Creates `dir` and its missing parents (inside the export).
  Status MakeDirs(nfs_context* ctx, const std::string& dir) {
    if (dir.empty() || dir == "/") return Status();
    nfs_stat_64 st{};
    if (nfs_stat64(ctx, dir.c_str(), &st) == 0) return Status();
    FERRY_RETURN_IF_ERROR(MakeDirs(ctx, ParentOf(dir)));
    const int rc = nfs_mkdir(ctx, dir.c_str());
    if (rc != 0 && rc != -EEXIST) return Failed(rc, ctx, "create directory " + Uri() + dir);
    return Status();
  }

  Status WriteAll(nfs_context* ctx, nfsfh* fh, ByteView data, const std::string& what) {
    uint64_t done = 0;
    while (done < data.size()) {
      const int n = nfs_pwrite(ctx, fh, done, data.size() - done, data.data() + done);
      if (n <= 0) return Failed(n == 0 ? -EIO : n, ctx, what);
      done += static_cast<uint64_t>(n);
    }
    return Status();
  }

  Status Publish(std::string_view name, ByteView data, bool exclusive) {
    if (location.version == 4) {
      return Status::NotSupported(
          What("write", name) +
          ": writing over NFSv4 is not supported with this libnfs (4.0 fails on WRITE); use "
          "?version=3");
    }
    Lease lease(*this);
    nfs_context* ctx = lease.get();
    const std::string path = PathOf(name);
    const std::string dir = ParentOf(path);
    const std::string tmp = dir + "/.tmp-" + RandomHex();
    const std::string what = What("write", name);
    nfsfh* fh = nullptr;
    int rc = nfs_create(ctx, tmp.c_str(), O_WRONLY | O_TRUNC, 0644, &fh);
    if (rc == -ENOENT) {
      FERRY_RETURN_IF_ERROR(MakeDirs(ctx, dir));
      rc = nfs_create(ctx, tmp.c_str(), O_WRONLY | O_TRUNC, 0644, &fh);
    }
    if (rc != 0) return Failed(rc, ctx, what);
    Status s = WriteAll(ctx, fh, data, what);
    // COMMIT before the name appears: the bytes are on the server's stable storage.
    if (s.ok() && (rc = nfs_fsync(ctx, fh)) != 0) s = Failed(rc, ctx, "commit " + what);
    if ((rc = nfs_close(ctx, fh)) != 0 && s.ok()) s = Failed(rc, ctx, "close " + what);
    if (s.ok()) s = PublishTemporary(ctx, tmp, path, data, exclusive, name);
    // A rename leaves no temporary behind; a link, or any failure, does.
    if (exclusive || !s.ok()) (void)nfs_unlink(ctx, tmp.c_str());
    return s;
  }

  // Gives the finished temporary its name: a rename (replacing what was there) or, for an
  // exclusive create, a hard link, which fails if the name exists.
  //
  // Neither call is idempotent, and libnfs sends a call again on a new connection when the old
  // one died before the answer came. If the server had done it, and its duplicate-request cache
  // does not know the resend (another connection, another port), it does it a second time: the
  // link then finds the name taken by itself (EEXIST), the rename finds its source gone
  // (NOENT). So a link that meets a name holding the temporary's very file (same file id), or a
  // rename that meets a name holding exactly `data`, did what was asked; anything else is the
  // error it seems. Only these failures cost the extra calls.
  Status PublishTemporary(nfs_context* ctx, const std::string& tmp, const std::string& path,
                          ByteView data, bool exclusive, std::string_view name) {
    const int rc = exclusive ? nfs_link(ctx, tmp.c_str(), path.c_str())
                             : nfs_rename(ctx, tmp.c_str(), path.c_str());
    if (rc == 0) return Status();
    // Made before the checks below talk to the server again and replace libnfs' message.
    Status failed = rc == -EEXIST && exclusive
                        ? Status::AlreadyExists(Uri() + "/" + std::string(name) + " already exists")
                        : Failed(rc, ctx, What("publish", name));
    if (exclusive && rc == -EEXIST && SameFile(ctx, tmp, path)) return Status();
    if (!exclusive && rc == -ENOENT && HoldsExactly(ctx, path, data)) return Status();
    return failed;
  }

  static bool SameFile(nfs_context* ctx, const std::string& a, const std::string& b) {
    nfs_stat_64 sa{}, sb{};
    return nfs_stat64(ctx, a.c_str(), &sa) == 0 && nfs_stat64(ctx, b.c_str(), &sb) == 0 &&
           sa.nfs_ino == sb.nfs_ino && sa.nfs_dev == sb.nfs_dev;
  }

  bool HoldsExactly(nfs_context* ctx, const std::string& path, ByteView data) {
    nfs_stat_64 st{};
    if (nfs_stat64(ctx, path.c_str(), &st) != 0 || st.nfs_size != data.size()) return false;
    std::string held(data.size(), '\0');
    auto got = Read(ctx, path, 0, {reinterpret_cast<std::byte*>(held.data()), held.size()}, path);
    return got.has_value() && *got == data.size() &&
           (data.empty() || std::memcmp(held.data(), data.data(), data.size()) == 0);
  }

  // Reads up to dst.size() bytes of `path` from `offset`; fewer only at its end.
  Result<size_t> Read(nfs_context* ctx, const std::string& path, uint64_t offset,
                      MutableByteView dst, std::string_view what) {
    nfsfh* fh = nullptr;
    const int rc = nfs_open(ctx, path.c_str(), O_RDONLY, &fh);
    if (rc != 0) return Err(Failed(rc, ctx, what));
    size_t done = 0;
    Status s;
    // At most the server's read size per call: libnfs 4.0 splits large reads over v3 but not
    // over v4, where the server then fails the oversized READ.
    const uint64_t most = std::max<uint64_t>(nfs_get_readmax(ctx), 4096);
    while (done < dst.size()) {
      const uint64_t want = std::min<uint64_t>(dst.size() - done, most);
      const int n = nfs_pread(ctx, fh, offset + done, want, dst.data() + done);
      if (n < 0) {
        s = Failed(n, ctx, fmt::format("{} at {}", what, offset + done));
        break;
      }
      if (n == 0) break;  // End of the object.
      done += static_cast<size_t>(n);
    }
    nfs_close(ctx, fh);
    FERRY_RETURN_IF_ERROR(s);
    return done;
  }

  // Calls `visit(name relative to the namespace, entry)` for every file under `dir` (whose
  // relative name is `rel`, "" for the root), temporaries included.
  Status Walk(nfs_context* ctx, const std::string& dir, const std::string& rel,
              const std::function<void(const std::string&, const nfsdirent&)>& visit) {
    nfsdir* d = nullptr;
    const int rc = nfs_opendir(ctx, dir.c_str(), &d);
    if (rc == -ENOENT || rc == -ENOTDIR) return Status();
    if (rc != 0) return Failed(rc, ctx, fmt::format("list {}/{}", Uri(), rel));
    std::vector<std::string> subdirs;
    while (nfsdirent* e = nfs_readdir(ctx, d)) {
      const std::string_view n = e->name;
      if (n == "." || n == "..") continue;
      const std::string name = rel.empty() ? std::string(n) : rel + "/" + std::string(n);
      if (S_ISDIR(e->mode) || e->type == 2 /* NF3DIR */) {
        subdirs.push_back(std::string(n));
      } else {
        visit(name, *e);
      }
    }
    nfs_closedir(ctx, d);
    for (const std::string& n : subdirs) {
      FERRY_RETURN_IF_ERROR(Walk(ctx, dir + "/" + n, rel.empty() ? n : rel + "/" + n, visit));
    }
    return Status();
  }
};

namespace {

// An object kept in memory until Commit writes and publishes it.
class NfsObjectWriter final : public ObjectWriter {
 public:
  NfsObjectWriter(NfsTransport& t, std::string name, uint64_t size_hint)
      : t_(t), name_(std::move(name)) {
    buffer_.reserve(static_cast<size_t>(std::min<uint64_t>(size_hint, 256u << 20)));
  }
  Status Append(ByteView data) override {
    buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return Status();
  }
  Status Commit() override { return t_.Put(name_, AsBytes(buffer_), false); }
  uint64_t size() const override { return buffer_.size(); }

 private:
  NfsTransport& t_;
  const std::string name_;
  std::string buffer_;
};

}  // namespace

NfsTransport::NfsTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NfsTransport::~NfsTransport() = default;

Result<std::unique_ptr<NfsTransport>> NfsTransport::Open(const NfsLocation& location, bool create,
                                                         const NfsOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->location = location;
  impl->options = options;
  const std::string uri = impl->Uri();
  std::string url_options = fmt::format("?version={}", location.version);
  if (location.port != 0) url_options += fmt::format("&nfsport={}", location.port);

  auto connect = [&](const std::string& exported) -> Result<nfs_context*> {
    nfs_context* ctx = nfs_init_context();
    if (ctx == nullptr) return Err(Status::IoError("libnfs: cannot create a context"));
    nfs_set_timeout(ctx, options.timeout_ms);
    // Options in libnfs' own URL syntax (version, port) land on the context.
    if (nfs_url* parsed =
            nfs_parse_url_dir(ctx, ("nfs://" + location.host + exported + url_options).c_str())) {
      nfs_destroy_url(parsed);
    }
    const int rc = nfs_mount(ctx, location.host.c_str(), exported.c_str());
    if (rc != 0) {
      Status s = Failed(rc, ctx, fmt::format("mount {}:{}", location.host, exported));
      nfs_destroy_context(ctx);
      return Err(s);
    }
    return ctx;
  };

  // The export is the longest leading part of the path that the server exports.
  std::string exported = location.export_path.empty() ? "/" : location.export_path;
  std::string rest;
  Status first_error;
  nfs_context* first = nullptr;
  for (;;) {
    auto ctx = connect(exported);
    if (ctx.has_value()) {
      first = *ctx;
      break;
    }
    if (first_error.ok()) first_error = ctx.error();
    const std::string message = ctx.error().message();
    // libnfs mounts first, then connects to the NFS port: "nfs_service failed" is the export
    // mounted and that port not answering (a wrong :PORT, or the NFS service down).
    if (message.find("nfs_service") != std::string::npos) {
      return Err(Status::Unavailable(fmt::format(
          "cannot reach {}: {} exports {} but its NFS service does not answer at port {}", uri,
          location.host, exported,
          location.port != 0 ? std::to_string(location.port) : "the portmapper's")));
    }
    const bool unreachable = message.find("connect") != std::string::npos ||
                             message.find("timed out") != std::string::npos ||
                             message.find("portmap") != std::string::npos;
    if (unreachable) {
      return Err(
          Status::Unavailable(fmt::format("cannot reach {}: {}", uri, ctx.error().message())));
    }
    if (exported == "/") {
      return Err(Status::NotFound(fmt::format("{}: no part of the path is exported by {} ({})", uri,
                                              location.host, first_error.message())));
    }
    const std::string parent = ParentOf(exported);
    rest = exported.substr(parent == "/" ? 0 : parent.size()) + rest;
    exported = parent;
  }
  impl->exported = exported;
  impl->base = rest;
  impl->all.push_back(first);
  // libnfs 4.0 gives every context of a process the same NFSv4 client identity, and their
  // open sequence ids then collide (NFS4ERR_BAD_SEQID): one connection for v4.
  const unsigned connections = location.version == 4 ? 1u : std::max(options.connections, 1u);
  for (unsigned i = 1; i < connections; ++i) {
    FERRY_ASSIGN_OR_RETURN(nfs_context * ctx, connect(exported));
    impl->all.push_back(ctx);
  }
  impl->idle = impl->all;

  nfs_stat_64 st{};
  const std::string root = impl->base.empty() ? "/" : impl->base;
  int rc = nfs_stat64(first, root.c_str(), &st);
  if (rc == -ENOENT && create) {
    if (location.version == 4) {
      return Err(Status::NotSupported(uri +
                                      ": creating a repository over NFSv4 is not supported with "
                                      "this libnfs; use ?version=3"));
    }
    FERRY_RETURN_IF_ERROR(impl->MakeDirs(first, root));
    rc = nfs_stat64(first, root.c_str(), &st);
  }
  if (rc != 0) return Err(Failed(rc, first, uri));
  if (!S_ISDIR(st.nfs_mode)) return Err(Status::InvalidArgument(uri + " is not a directory"));
  return std::unique_ptr<NfsTransport>(new NfsTransport(std::move(impl)));
}

std::string NfsTransport::Describe() const { return impl_->Uri(); }

TransportCapabilities NfsTransport::capabilities() const {
  return {.atomic_rename = true,
          .object_lock = false,
          .parallelism = static_cast<unsigned>(impl_->all.size())};
}

Status NfsTransport::Put(std::string_view name, ByteView data, bool exclusive) {
  return impl_->Publish(name, data, exclusive);
}

Result<std::unique_ptr<ObjectWriter>> NfsTransport::Create(std::string_view name,
                                                           uint64_t size_hint) {
  return std::unique_ptr<ObjectWriter>(new NfsObjectWriter(*this, std::string(name), size_hint));
}

Result<std::string> NfsTransport::Get(std::string_view name) {
  FERRY_ASSIGN_OR_RETURN(uint64_t size, Size(name));
  std::string data(size, '\0');
  FERRY_ASSIGN_OR_RETURN(size_t got,
                         ReadAt(name, 0, {reinterpret_cast<std::byte*>(data.data()), data.size()}));
  data.resize(got);
  return data;
}

Result<size_t> NfsTransport::ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) {
  Impl::Lease lease(*impl_);
  return impl_->Read(lease.get(), impl_->PathOf(name), offset, dst, impl_->What("read", name));
}

Result<uint64_t> NfsTransport::Size(std::string_view name) {
  Impl::Lease lease(*impl_);
  nfs_stat_64 st{};
  const int rc = nfs_stat64(lease.get(), impl_->PathOf(name).c_str(), &st);
  if (rc != 0) return Err(Failed(rc, lease.get(), impl_->What("size of", name)));
  return st.nfs_size;
}

Result<std::vector<std::string>> NfsTransport::List(std::string_view prefix) {
  Impl::Lease lease(*impl_);
  std::vector<std::string> names;
  FERRY_RETURN_IF_ERROR(impl_->Walk(lease.get(), impl_->PathOf(prefix), std::string(prefix),
                                    [&](const std::string& name, const nfsdirent& e) {
                                      if (!std::string_view(e.name).starts_with(".tmp-")) {
                                        names.push_back(name);
                                      }
                                    }));
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<LeftoverTemporary>> NfsTransport::ListLeftovers() {
  Impl::Lease lease(*impl_);
  std::vector<LeftoverTemporary> out;
  // Ages by this host's clock against the server's mtimes: skew between them shifts them.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  FERRY_RETURN_IF_ERROR(impl_->Walk(
      lease.get(), impl_->PathOf(""), "", [&](const std::string& name, const nfsdirent& e) {
        if (!std::string_view(e.name).starts_with(".tmp-")) return;
        const auto written = std::chrono::seconds(e.mtime.tv_sec);
        out.push_back({name, e.size,
                       std::max(std::chrono::seconds(0),
                                std::chrono::duration_cast<std::chrono::seconds>(now - written))});
      }));
  return out;
}

Status NfsTransport::Remove(std::string_view name) {
  Impl::Lease lease(*impl_);
  const int rc = nfs_unlink(lease.get(), impl_->PathOf(name).c_str());
  if (rc == 0 || rc == -ENOENT) return Status();
  return Failed(rc, lease.get(), impl_->What("delete", name));
}

}  // namespace ferry::nfs
