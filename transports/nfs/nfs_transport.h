// NfsTransport: a Transport on a directory of an NFS export, through libnfs in user space (no
// kernel mount, no root).
//
// Several connections (NfsConnection: a libnfs context and mount each, driven asynchronously)
// are shared by all operations, each operation taking the least busy one for its calls; large
// reads and writes become many READ/WRITE RPCs in flight. Every call waits for its answer at
// most the URI's timeout.
//
// Objects are published as on a local disk: written under a temporary name beside the target,
// COMMITted (fsync) and closed, then renamed into place — or, for exclusive creates,
// hard-linked (which fails if the name exists) and the temporary removed. A crash leaves at
// worst a stray ".tmp-" file, which List never returns.
//
// Reads keep the file handles of the objects they opened (NFSv3, up to NfsOptions::read_handles):
// reading an object again sends no LOOKUP nor ACCESS, only the READs.
//
// Objects written piece by piece are kept in memory and written at Commit in one pwrite (which
// libnfs sends as many WRITEs at once): appends then never wait on the network.
//
// Debian 12's libnfs 4.0.0 cannot WRITE over NFSv4 (its encoder fails on writes over about
// 1 KiB; fixed upstream later), so ?version=4 repositories are refused for writing; reads
// over v4 work.
//
// Thread-safety: as Transport.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "transports/transport.h"
#include "transports/uri.h"

namespace ferry::nfs {

struct NfsOptions {
  unsigned connections = 4;
  // Over NFSv3, how many objects' file handles stay open after a read (see read_handles.h).
  size_t read_handles = 1024;
};

class NfsTransport final : public Transport {
 public:
  // Mounts the export (the longest leading part of the path the server exports) on every
  // connection and makes sure the repository directory exists when `create`. Errors: naming
  // the URI — kUnavailable if the server cannot be reached, kNotFound if nothing along the path
  // is exported or the directory is missing, kNotSupported for writes over NFSv4.
  static Result<std::unique_ptr<NfsTransport>> Open(const NfsLocation& location, bool create,
                                                    const NfsOptions& options = {});
  ~NfsTransport() override;

  std::string Describe() const override;
  TransportCapabilities capabilities() const override;
  Status Put(std::string_view name, ByteView data, bool exclusive = false) override;
  Result<std::unique_ptr<ObjectWriter>> Create(std::string_view name,
                                               uint64_t size_hint = 0) override;
  Result<std::string> Get(std::string_view name) override;
  Result<size_t> ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) override;
  Result<uint64_t> Size(std::string_view name) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Result<std::vector<ListedObject>> ListWithSizes(std::string_view prefix) override;
  Result<std::vector<LeftoverTemporary>> ListLeftovers() override;
  Status Remove(std::string_view name) override;

 private:
  struct Impl;
  explicit NfsTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::nfs
