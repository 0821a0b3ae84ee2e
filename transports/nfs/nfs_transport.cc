#include "transports/nfs/nfs_transport.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transports/nfs/nfs_connection.h"
#include "transports/nfs/read_handles.h"

namespace ferry::nfs {
namespace {

std::string RandomHex() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

// libnfs' words name the RPC that failed and the server's answer; its -errno only the kind.
Status Failed(const NfsError& e, std::string_view what) {
  const int err = e.rc < 0 ? -e.rc : EIO;
  if (e.unanswered) {
    return Status::Unavailable(fmt::format(
        "{}: the NFS server did not answer in time ({}); a slow server may need ?timeout=SECONDS "
        "in the URI",
        what, e.message));
  }
  if (e.message.empty()) return Status::FromErrno(err, what);
  return Status::FromErrnoWithMessage(err, fmt::format("{}: {}", what, e.message));
}

// Whether `host` accepts a TCP connection on `port` within two seconds.
bool AcceptsConnections(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool accepted = false;
  for (addrinfo* a = found; a != nullptr && !accepted; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      accepted = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      accepted = poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                 err == 0;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return accepted;
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

struct NfsTransport::Impl {
  explicit Impl(size_t handles_held) : read_handles(handles_held) {}

  NfsLocation location;
  std::string base;  // The repository inside the mounted export: "" or "/backups/host1".
  std::vector<std::unique_ptr<NfsConnection>> connections;
  // Over NFSv3, the open files of objects read lately (after `connections`: they close on them).
  ReadHandles read_handles;

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

  // Over NFSv4, one operation at a time: libnfs 4.0 keeps one open-owner per context, and
  // operations overlapping on it fail with NFS4ERR_OLD_STATEID.
  std::mutex v4_serial;

  // The connection one operation uses throughout (a file handle belongs to its connection): of
  // those libnfs has not given up (if any), the one fewest operations use at the moment.
  class Lease {
   public:
    explicit Lease(Impl& impl)
        : c_(**std::min_element(impl.connections.begin(), impl.connections.end(),
                                [](const auto& a, const auto& b) {
                                  return std::pair(a->given_up(), a->users.load()) <
                                         std::pair(b->given_up(), b->users.load());
                                })) {
      if (impl.location.version == 4) serial_ = std::unique_lock(impl.v4_serial);
      ++c_.users;
    }
    // The connection a held file handle belongs to (NFSv3 only).
    explicit Lease(NfsConnection& c) : c_(c) { ++c_.users; }
    ~Lease() { --c_.users; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    NfsConnection& get() const { return c_; }

   private:
    NfsConnection& c_;
    std::unique_lock<std::mutex> serial_;
  };

  // Creates `dir` and its missing parents (inside the export).
  Status MakeDirs(NfsConnection& c, const std::string& dir) {
    if (dir.empty() || dir == "/") return Status();
    if (c.Stat(dir)) return Status();
    FERRY_RETURN_IF_ERROR(MakeDirs(c, ParentOf(dir)));
    auto made = c.Mkdir(dir);
    if (!made && made.error().rc != -EEXIST) {
      return Failed(made.error(), "create directory " + Uri() + dir);
    }
    return Status();
  }

  static Status WriteAll(NfsConnection& c, nfsfh* fh, ByteView data, const std::string& what) {
    uint64_t done = 0;
    while (done < data.size()) {
      auto n = c.Write(fh, done, data.subspan(done));
      if (!n) return Failed(n.error(), what);
      if (*n == 0) return Failed({.rc = -EIO, .message = "the server wrote nothing"}, what);
      done += *n;
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
    NfsConnection& c = lease.get();
    const std::string path = PathOf(name);
    const std::string dir = ParentOf(path);
    const std::string tmp = dir + "/.tmp-" + RandomHex();
    const std::string what = What("write", name);
    auto fh = c.Create(tmp, O_WRONLY | O_TRUNC, 0644);
    if (!fh && fh.error().rc == -ENOENT) {
      FERRY_RETURN_IF_ERROR(MakeDirs(c, dir));
      fh = c.Create(tmp, O_WRONLY | O_TRUNC, 0644);
    }
    if (!fh) return Failed(fh.error(), what);
    Status s = WriteAll(c, *fh, data, what);
    // COMMIT before the name appears: the bytes are on the server's stable storage.
    if (s.ok()) {
      if (auto committed = c.Commit(*fh); !committed)
        s = Failed(committed.error(), "commit " + what);
    }
    if (auto closed = c.Close(*fh); !closed && s.ok()) s = Failed(closed.error(), "close " + what);
    if (s.ok()) s = PublishTemporary(c, tmp, path, data, exclusive, name);
    // A rename leaves no temporary behind; a link, or any failure, does.
    if (exclusive || !s.ok()) (void)c.Unlink(tmp);
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
  Status PublishTemporary(NfsConnection& c, const std::string& tmp, const std::string& path,
                          ByteView data, bool exclusive, std::string_view name) {
    auto done = exclusive ? c.Link(tmp, path) : c.Rename(tmp, path);
    if (done) return Status();
    const int rc = done.error().rc;
    if (exclusive && rc == -EEXIST) {
      if (SameFile(c, tmp, path)) return Status();
      return Status::AlreadyExists(Uri() + "/" + std::string(name) + " already exists");
    }
    if (!exclusive && rc == -ENOENT && HoldsExactly(c, path, data)) return Status();
    return Failed(done.error(), What("publish", name));
  }

  static bool SameFile(NfsConnection& c, const std::string& a, const std::string& b) {
    auto sa = c.Stat(a);
    auto sb = c.Stat(b);
    return sa && sb && sa->nfs_ino == sb->nfs_ino && sa->nfs_dev == sb->nfs_dev;
  }

  bool HoldsExactly(NfsConnection& c, const std::string& path, ByteView data) {
    auto st = c.Stat(path);
    if (!st || st->nfs_size != data.size()) return false;
    std::string held(data.size(), '\0');
    auto got = Read(c, path, 0, {reinterpret_cast<std::byte*>(held.data()), held.size()}, path);
    return got.has_value() && *got == data.size() &&
           (data.empty() || std::memcmp(held.data(), data.data(), data.size()) == 0);
  }

  // Reads up to dst.size() bytes of the open file `fh` from `offset`; fewer only at its end.
  static NfsResult<size_t> ReadFrom(NfsConnection& c, nfsfh* fh, uint64_t offset,
                                    MutableByteView dst) {
    size_t done = 0;
    while (done < dst.size()) {
      auto n = c.Read(fh, offset + done, dst.subspan(done));
      if (!n) {
        NfsError e = n.error();
        e.message = fmt::format("at offset {}: {}", offset + done, e.message);
        return tl::unexpected(e);
      }
      if (*n == 0) break;  // The object's end.
      done += *n;
    }
    return done;
  }

  // Reads up to dst.size() bytes of `path` from `offset` through a file opened for this read.
  static Result<size_t> Read(NfsConnection& c, const std::string& path, uint64_t offset,
                             MutableByteView dst, std::string_view what) {
    auto fh = c.Open(path, O_RDONLY);
    if (!fh) return Err(Failed(fh.error(), what));
    auto done = ReadFrom(c, *fh, offset, dst);
    (void)c.Close(*fh);
    if (!done) return Err(Failed(done.error(), what));
    return *done;
  }

  // Runs `use(connection, fh)` on the open file of `path`: over NFSv3 the handle held since an
  // earlier read or, when none is (or it went stale: the object was removed by another client),
  // one opened now and held for the next. Over NFSv4 the file is open for this use alone.
  template <class Use>
  auto WithReadHandle(const std::string& path, Use use)
      -> decltype(use(std::declval<NfsConnection&>(), static_cast<nfsfh*>(nullptr))) {
    if (location.version == 4) {
      Lease lease(*this);
      auto fh = lease.get().Open(path, O_RDONLY);
      if (!fh) return tl::unexpected(fh.error());
      auto result = use(lease.get(), *fh);
      (void)lease.get().Close(*fh);
      return result;
    }
    if (std::shared_ptr<ReadHandle> held = read_handles.Find(path)) {
      Lease lease(held->connection());
      auto result = use(held->connection(), held->fh());
      if (result || result.error().rc != -ESTALE) return result;
      read_handles.Forget(path);
    }
    Lease lease(*this);
    auto fh = lease.get().Open(path, O_RDONLY);
    if (!fh) return tl::unexpected(fh.error());
    auto handle = read_handles.Keep(path, std::make_shared<ReadHandle>(lease.get(), *fh));
    auto result = use(lease.get(), handle->fh());
    if (!result && result.error().rc == -ESTALE) {
      // Removed between the open and the read: as if it had been gone before.
      read_handles.Forget(path);
      result.error().rc = -ENOENT;
    }
    return result;
  }

  // Calls `visit(name relative to the namespace, entry)` for every file under `dir` (whose
  // relative name is `rel`, "" for the root), temporaries included.
  Status Walk(NfsConnection& c, const std::string& dir, const std::string& rel,
              const std::function<void(const std::string&, const NfsDirEntry&)>& visit) {
    auto entries = c.ReadDir(dir);
    if (!entries && (entries.error().rc == -ENOENT || entries.error().rc == -ENOTDIR)) {
      return Status();
    }
    if (!entries) return Failed(entries.error(), fmt::format("list {}/{}", Uri(), rel));
    for (const NfsDirEntry& e : *entries) {
      const std::string name = rel.empty() ? e.name : rel + "/" + e.name;
      if (e.is_dir) {
        FERRY_RETURN_IF_ERROR(Walk(c, dir + "/" + e.name, name, visit));
      } else {
        visit(name, e);
      }
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
  auto impl = std::make_unique<Impl>(options.read_handles);
  impl->location = location;
  const std::string uri = impl->Uri();
  std::string url_options = fmt::format("?version={}", location.version);
  if (location.port != 0) url_options += fmt::format("&nfsport={}", location.port);

  // Mounts with libnfs' synchronous call (nothing else uses the context yet), then hands the
  // context to a connection that drives it asynchronously from then on.
  auto connect = [&](const std::string& exported) -> Result<std::unique_ptr<NfsConnection>> {
    nfs_context* ctx = nfs_init_context();
    if (ctx == nullptr) return Err(Status::IoError("libnfs: cannot create a context"));
    nfs_set_timeout(ctx, location.timeout_seconds * 1000);
    // Options in libnfs' own URL syntax (version, port) land on the context.
    if (nfs_url* parsed =
            nfs_parse_url_dir(ctx, ("nfs://" + location.host + exported + url_options).c_str())) {
      nfs_destroy_url(parsed);
    }
    const int rc = nfs_mount(ctx, location.host.c_str(), exported.c_str());
    if (rc != 0) {
      const char* words = nfs_get_error(ctx);
      Status s = Failed({.rc = rc, .message = words != nullptr ? words : ""},
                        fmt::format("mount {}:{}", location.host, exported));
      nfs_destroy_context(ctx);
      return Err(s);
    }
    return NfsConnection::Start(ctx);
  };

  // The export is the longest leading part of the path that the server exports.
  std::string exported = location.export_path.empty() ? "/" : location.export_path;
  std::string rest;
  Status first_error;
  for (;;) {
    auto connection = connect(exported);
    if (connection.has_value()) {
      impl->connections.push_back(std::move(*connection));
      break;
    }
    if (first_error.ok()) first_error = connection.error();
    const std::string message = connection.error().message();
    // libnfs 4.0 says only "nfs_service failed" when a connection fails, whichever it was. Over
    // NFSv3 the first is to the portmapper: if that answers, the mount went through and the
    // NFS port does not answer (a wrong :PORT, or the NFS service down). NFSv4 has one port.
    if (message.find("nfs_service") != std::string::npos) {
      const bool v4 = location.version == 4;
      const uint16_t first_port = !v4 ? 111 : location.port != 0 ? location.port : 2049;
      if (!AcceptsConnections(location.host, first_port)) {
        return Err(Status::Unavailable(fmt::format(
            "cannot reach {}: nothing answers at {}:{} ({}): is an NFS server running there?", uri,
            location.host, first_port, v4 ? "its NFSv4 port" : "the portmapper")));
      }
      if (!v4) {
        return Err(Status::Unavailable(fmt::format(
            "cannot reach {}: {} exports {} but its NFS service does not answer at port {}", uri,
            location.host, exported,
            location.port != 0 ? std::to_string(location.port) : "the portmapper's")));
      }
    }
    const bool unreachable = message.find("connect") != std::string::npos ||
                             message.find("timed out") != std::string::npos ||
                             message.find("portmap") != std::string::npos;
    if (unreachable)
      return Err(Status::Unavailable(fmt::format("cannot reach {}: {}", uri, message)));
    if (exported == "/") {
      return Err(Status::NotFound(fmt::format("{}: no part of the path is exported by {} ({})", uri,
                                              location.host, first_error.message())));
    }
    const std::string parent = ParentOf(exported);
    rest = exported.substr(parent == "/" ? 0 : parent.size()) + rest;
    exported = parent;
  }
  impl->base = rest;
  // libnfs 4.0 gives every context of a process the same NFSv4 client identity, and their
  // open sequence ids then collide (NFS4ERR_BAD_SEQID): one connection for v4.
  const unsigned connections = location.version == 4 ? 1u : std::max(options.connections, 1u);
  for (unsigned i = 1; i < connections; ++i) {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<NfsConnection> c, connect(exported));
    impl->connections.push_back(std::move(c));
  }

  NfsConnection& first = *impl->connections.front();
  const std::string root = impl->base.empty() ? "/" : impl->base;
  auto st = first.Stat(root);
  if (!st && st.error().rc == -ENOENT && create) {
    if (location.version == 4) {
      return Err(Status::NotSupported(uri +
                                      ": creating a repository over NFSv4 is not supported with "
                                      "this libnfs; use ?version=3"));
    }
    FERRY_RETURN_IF_ERROR(impl->MakeDirs(first, root));
    st = first.Stat(root);
  }
  if (!st) return Err(Failed(st.error(), uri));
  if (!S_ISDIR(st->nfs_mode)) return Err(Status::InvalidArgument(uri + " is not a directory"));
  return std::unique_ptr<NfsTransport>(new NfsTransport(std::move(impl)));
}

std::string NfsTransport::Describe() const { return impl_->Uri(); }

TransportCapabilities NfsTransport::capabilities() const {
  return {.atomic_rename = true,
          .object_lock = false,
          .parallelism = static_cast<unsigned>(impl_->connections.size())};
}

Status NfsTransport::Put(std::string_view name, ByteView data, bool exclusive) {
  Status s = impl_->Publish(name, data, exclusive);
  // A handle held for the name reads what was there before.
  impl_->read_handles.Forget(impl_->PathOf(name));
  return s;
}

Result<std::unique_ptr<ObjectWriter>> NfsTransport::Create(std::string_view name,
                                                           uint64_t size_hint) {
  return std::unique_ptr<ObjectWriter>(new NfsObjectWriter(*this, std::string(name), size_hint));
}

Result<std::string> NfsTransport::Get(std::string_view name) {
  auto got = impl_->WithReadHandle(
      impl_->PathOf(name), [](NfsConnection& c, nfsfh* fh) -> NfsResult<std::string> {
        auto st = c.Fstat(fh);
        if (!st) return tl::unexpected(st.error());
        std::string data(st->nfs_size, '\0');
        auto n = Impl::ReadFrom(c, fh, 0, {reinterpret_cast<std::byte*>(data.data()), data.size()});
        if (!n) return tl::unexpected(n.error());
        data.resize(*n);
        return data;
      });
  if (!got) return Err(Failed(got.error(), impl_->What("read", name)));
  return std::move(*got);
}

Result<size_t> NfsTransport::ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) {
  auto got = impl_->WithReadHandle(impl_->PathOf(name), [&](NfsConnection& c, nfsfh* fh) {
    return Impl::ReadFrom(c, fh, offset, dst);
  });
  if (!got) return Err(Failed(got.error(), impl_->What("read", name)));
  return *got;
}

Result<uint64_t> NfsTransport::Size(std::string_view name) {
  Impl::Lease lease(*impl_);
  auto st = lease.get().Stat(impl_->PathOf(name));
  if (!st) return Err(Failed(st.error(), impl_->What("size of", name)));
  return st->nfs_size;
}

Result<std::vector<std::string>> NfsTransport::List(std::string_view prefix) {
  FERRY_ASSIGN_OR_RETURN(auto listed, ListWithSizes(prefix));
  return NamesOf(std::move(listed));
}

// READDIRPLUS brings each entry's attributes with its name: the sizes cost nothing more.
Result<std::vector<ListedObject>> NfsTransport::ListWithSizes(std::string_view prefix) {
  Impl::Lease lease(*impl_);
  std::vector<ListedObject> out;
  FERRY_RETURN_IF_ERROR(impl_->Walk(lease.get(), impl_->PathOf(prefix), std::string(prefix),
                                    [&](const std::string& name, const NfsDirEntry& e) {
                                      if (!e.name.starts_with(".tmp-"))
                                        out.push_back({name, e.size});
                                    }));
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<LeftoverTemporary>> NfsTransport::ListLeftovers() {
  Impl::Lease lease(*impl_);
  std::vector<LeftoverTemporary> out;
  // Ages by this host's clock against the server's mtimes: skew between them shifts them.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  FERRY_RETURN_IF_ERROR(impl_->Walk(
      lease.get(), impl_->PathOf(""), "", [&](const std::string& name, const NfsDirEntry& e) {
        if (!e.name.starts_with(".tmp-")) return;
        const auto written = std::chrono::seconds(e.mtime_seconds);
        out.push_back({name,
                       e.size,
                       std::max(std::chrono::seconds(0),
                                std::chrono::duration_cast<std::chrono::seconds>(now - written)),
                       {}});
      }));
  return out;
}

Status NfsTransport::Remove(std::string_view name) {
  Impl::Lease lease(*impl_);
  auto removed = lease.get().Unlink(impl_->PathOf(name));
  impl_->read_handles.Forget(impl_->PathOf(name));
  if (removed || removed.error().rc == -ENOENT) return Status();
  return Failed(removed.error(), impl_->What("delete", name));
}

}  // namespace ferry::nfs
