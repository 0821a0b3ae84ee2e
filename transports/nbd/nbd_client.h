// NbdClient: a volume exported over NBD (qemu-nbd, nbdkit, a hypervisor's backup export), read
// through libnbd. It is both a backup source (`nbd://HOST[:PORT]/EXPORT`,
// `nbd+unix:///EXPORT?socket=PATH`) and a change source: the metadata contexts
// `base:allocation` (what is allocated, for full backups) and `qemu:dirty-bitmap:NAME` (what
// changed, for incrementals).
//
// Thread-safety: one thread at a time per client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

#include "cbt/extent_list.h"

struct nbd_handle;

namespace ferry::nbd {

struct NbdLibrary;

inline constexpr std::string_view kBaseAllocation = "base:allocation";
inline constexpr uint32_t kStateHole = 1;   // base:allocation: not allocated.
inline constexpr uint32_t kStateZero = 2;   // base:allocation: reads as zeros.
inline constexpr uint32_t kStateDirty = 1;  // qemu:dirty-bitmap:NAME: written since.

// True for the URIs NbdClient takes (nbd://, nbds://, nbd+unix://, nbds+unix://).
bool IsNbdUri(std::string_view path);
// "qemu:dirty-bitmap:NAME".
std::string DirtyBitmapContext(std::string_view bitmap);

class NbdClient {
 public:
  // Connects to `uri`, asking the server for the metadata `contexts`. Errors: kInvalidArgument
  // for a malformed URI, kUnavailable when the server cannot be reached, naming the URI;
  // kNotSupported when libnbd cannot be loaded.
  static Result<std::unique_ptr<NbdClient>> Connect(const std::string& uri,
                                                    const std::vector<std::string>& contexts);
  ~NbdClient();
  NbdClient(const NbdClient&) = delete;
  NbdClient& operator=(const NbdClient&) = delete;

  const std::string& uri() const { return uri_; }
  uint64_t size() const { return size_; }
  // Whether the server agreed to `context`.
  bool HasContext(std::string_view context) const;

  // Reads exactly `out.size()` bytes at `offset`. Errors: kIoError naming the URI and offset.
  Status Read(MutableByteView out, uint64_t offset);
  // The ranges of the whole export whose `context` flags satisfy `want`, sorted and merged.
  // REQUIRES: HasContext(context). Errors: kIoError naming the URI.
  Result<cbt::ExtentList> RangesWhere(std::string_view context, bool (*want)(uint32_t flags));

 private:
  NbdClient(const NbdLibrary& lib, std::string uri, nbd_handle* handle)
      : lib_(lib), uri_(std::move(uri)), handle_(handle) {}
  Status Error(std::string_view what) const;

  const NbdLibrary& lib_;
  std::string uri_;
  nbd_handle* handle_;
  uint64_t size_ = 0;
  std::vector<std::string> contexts_;  // Agreed by the server.
};

}  // namespace ferry::nbd
