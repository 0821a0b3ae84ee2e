// NbdClient: a volume exported over NBD (qemu-nbd, nbdkit, a hypervisor's backup export), read
// through libnbd. It is both a backup source (`nbd://HOST[:PORT]/EXPORT`,
// `nbd+unix:///EXPORT?socket=PATH`) and a change source: the metadata contexts
// `base:allocation` (what is allocated, for full backups) and `qemu:dirty-bitmap:NAME` (what
// changed, for incrementals).
//
// A full or incremental backup streams the ranges it wants with several reads in flight (the
// server reads ahead of the chunker: one read at a time made a backup through qemu-nbd 2.7x
// slower than from the file, bench/RESULTS.md); single reads elsewhere go alongside.
//
// A server that answers nothing for FERRY_NBD_TIMEOUT_SECONDS (default 300) while a connection
// or a read waits is taken to be gone: the call fails, and the client closes without the
// goodbye that would wait for it. A cancelled job stops a wait the same way, within half a
// second, rather than when the server answers.
//
// Thread-safety: one thread at a time per client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/cancel.h"
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

// One piece of a stream of reads (NbdClient::StartStream).
struct NbdPiece {
  uint64_t offset = 0;  // Export offset of data[0].
  ByteView data;        // Empty at the end of the stream.
};

// qemu-nbd answers at most 16 requests of a client at once; more only wait in its socket.
inline constexpr unsigned kMaxStreamDepth = 16;

struct NbdStreamOptions {
  // Bytes per read. qemu-nbd (cache=writeback, the default) spent several times the CPU per byte
  // on 1 MiB reads that it spends on 256 KiB ones, on the same volume (bench/RESULTS.md).
  size_t piece_size = 256 << 10;
  unsigned depth = 8;  // Reads in flight at most.
};

class NbdClient {
 public:
  // Connects to `uri`, asking the server for the metadata `contexts`. Every wait of the client,
  // the handshake included, ends with kCancelled once `cancel` (optional; must outlive the
  // client) is set. Errors: kInvalidArgument for a malformed URI, kUnavailable when the server
  // cannot be reached or does not answer, naming the URI; kNotSupported when libnbd cannot be
  // loaded.
  static Result<std::unique_ptr<NbdClient>> Connect(const std::string& uri,
                                                    const std::vector<std::string>& contexts,
                                                    const CancelToken* cancel = nullptr);
  ~NbdClient();
  NbdClient(const NbdClient&) = delete;
  NbdClient& operator=(const NbdClient&) = delete;

  const std::string& uri() const { return uri_; }
  uint64_t size() const { return size_; }
  // Whether the server agreed to `context`.
  bool HasContext(std::string_view context) const;
  // Whether the server advertises multi-conn: that more connections to the export see the same
  // data, and so are worth opening. qemu-nbd does only when it serves several clients (-e N);
  // with its default of one, a second connection waits until the first closes.
  bool can_multi_conn() const { return multi_conn_; }

  // Reads exactly `out.size()` bytes at `offset`. Errors: kIoError naming the URI and offset;
  // kUnavailable if the server stopped answering.
  Status Read(MutableByteView out, uint64_t offset);
  // Starts reading `ranges` (sorted, inside size()) front to back, pieces of
  // `options.piece_size` with up to `options.depth` in flight, so the server reads ahead of the
  // caller. A piece never spans two ranges. A stream started before ends here: its reads still
  // in flight are waited for first. After a stream failed, every later one fails the same way.
  void StartStream(cbt::ExtentList ranges, const NbdStreamOptions& options);
  // The next piece of the stream in offset order, or an empty one at its end. The data stays
  // valid until the next call. Errors: kIoError naming the URI and offset, kUnavailable if the
  // server stopped answering; the same error on every later call. REQUIRES: StartStream().
  Result<NbdPiece> NextPiece();

  // The ranges of the whole export whose `context` flags satisfy `want`, sorted and merged.
  // REQUIRES: HasContext(context). Errors: kIoError naming the URI.
  Result<cbt::ExtentList> RangesWhere(std::string_view context, bool (*want)(uint32_t flags));

 private:
  NbdClient(const NbdLibrary& lib, std::string uri, nbd_handle* handle)
      : lib_(lib), uri_(std::move(uri)), handle_(handle) {}
  Status Error(std::string_view what) const;
  // Sends the read that fills stream slot `slot` with the next piece, if any is left.
  Status SubmitPiece(size_t slot);
  // Lets libnbd work until `state()` is 1 (done) or -1 (failed: the handle's error, as
  // Error(what())). Errors: kUnavailable when nothing moves for the answer timeout, kCancelled
  // when the job is cancelled. `what` is called only on failure, so a read that succeeds
  // formats no message.
  template <class State, class What>
  Status PollUntil(State state, What what);
  // Waits until the read of `cookie` is answered.
  Status AwaitCommand(int64_t cookie, uint64_t offset);

  const NbdLibrary& lib_;
  std::string uri_;
  nbd_handle* handle_;
  uint64_t size_ = 0;
  bool multi_conn_ = false;
  std::vector<std::string> contexts_;  // Agreed by the server.
  std::chrono::seconds answer_timeout_{300};
  const CancelToken* cancel_ = nullptr;
  // Set when a wait gave up (timed out or cancelled) with its request still out: every later
  // wait fails with it, and closing does not wait for the server.
  Status abandoned_;

  // The stream. Its buffers outlive the handle (the destructor closes it first), so a read
  // still in flight never lands in freed memory.
  struct StreamSlot {
    std::unique_ptr<std::byte[]> buffer;
    uint64_t offset = 0;
    size_t length = 0;
    int64_t cookie = -1;  // Of the read in flight into `buffer`; -1 when idle.
  };
  std::vector<StreamSlot> slots_;
  size_t piece_size_ = 0;
  cbt::ExtentList ranges_;
  size_t range_index_ = 0;
  uint64_t cursor_ = 0;   // Next offset to request within ranges_[range_index_].
  size_t next_slot_ = 0;  // The slot NextPiece() delivers next.
  bool holding_ = false;  // The caller holds the slot before next_slot_.
  Status stream_error_;   // Sticky.
};

}  // namespace ferry::nbd
