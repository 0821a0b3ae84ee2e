// WindowWriter: writes a volume to its target window by window through one I/O queue
// (io_uring where available), so restore threads only decode and the disk works in parallel.
//
// Restore workers Acquire() a window buffer, fill it, and Commit() it with the byte ranges that
// must reach the target; the thread that calls Run() turns those ranges into block-aligned
// writes (O_DIRECT when the target allows it: no page-cache copy, no mountain of dirty pages for
// the final fsync), submits them, and recycles buffers as writes complete. A buffer pool of
// fixed size bounds memory and paces the workers to the disk.
//
// Windows need not start or end on a block boundary (a restore ends them where chunks end, so no
// chunk is decoded twice). A block shared by two windows is never written whole: each window
// writes only its own bytes of it, through the buffered descriptor, and the page cache merges them.
//
// A stream target (a pipe, standard output) cannot be written at offsets: its windows come whole
// and Run writes them in order as the one before each arrives, so the workers still fetch and
// decode several windows at once.
//
// Thread-safety: Acquire, Commit, Release, Fail and failed() from any thread; Run from one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

#include "cbt/extent_list.h"
#include "engine/io/aligned_buffer.h"
#include "engine/io/io_queue.h"

namespace ferry {

// A window on its way to a target that is not a plain image of the volume (a QCOW2 file):
// whatever the placer made of it, kept alive until its writes complete.
struct PreparedWindow {
  virtual ~PreparedWindow() = default;
};

// Decides where a window's bytes go when they do not go to their own offsets.
class WindowPlacer {
 public:
  struct Write {
    uint64_t offset = 0;  // In the target file.
    const std::byte* data = nullptr;
    size_t length = 0;
  };
  virtual ~WindowPlacer() = default;
  // On the thread that commits the window (the restore workers, in parallel): looks at the
  // window's bytes (volume offsets `start`…; `dirty` says which hold data, the rest reads as
  // zeros and may be overwritten) and prepares them (zero checks, comparisons, compression).
  virtual Result<std::unique_ptr<PreparedWindow>> Prepare(uint64_t start, MutableByteView buffer,
                                                          const cbt::ExtentList& dirty) = 0;
  // On the writer's thread, in commit order: allocates space and says what to write where.
  virtual Status Place(PreparedWindow& window, std::vector<Write>* writes) = 0;
};

// A window of the volume: bytes [start, end), at most the writer's window size. The windows of a
// stream are numbered from 0 in volume order, each starting where the one before it ends.
struct WindowRange {
  uint64_t index = 0;
  uint64_t start = 0;
  uint64_t end = 0;
};

struct WindowTarget {
  int fd = -1;          // For aligned writes; O_DIRECT if `direct`.
  bool direct = false;  // fd bypasses the page cache: writes must be block-aligned.
  int tail_fd = -1;     // Buffered descriptor of the same file, for a final partial block.
  uint64_t size = 0;    // Volume size: nothing is written at or beyond it.
  std::string name;     // For errors.
  // If set, windows go where it says (writes that are not block-aligned go to tail_fd) instead
  // of to their volume offsets. Not owned; outlives the writer.
  WindowPlacer* placer = nullptr;
  // fd is a stream: every window is committed whole (the buffer holds all of its bytes, zeros
  // included) and written in volume order with write(2); `direct`, `tail_fd`, `placer` unused.
  bool stream = false;
};

class WindowWriter {
 public:
  // Block size for aligned writes; window sizes are multiples of it.
  static constexpr size_t kBlock = 4096;
  // The volume offset of a window buffer's first byte: the block holding the window's start, so
  // the buffer's blocks line up with the target's (O_DIRECT needs both aligned).
  static constexpr uint64_t BufferBase(uint64_t window_start) {
    return window_start / kBlock * kBlock;
  }

  // OK if `window_size` is a non-zero multiple of kBlock; else kInvalidArgument saying so.
  static Status CheckWindowSize(size_t window_size);

  // `buffers` window buffers, for windows of up to `window_size` bytes (a multiple of kBlock).
  // Errors: kInvalidArgument for a bad window size; from CreateIoQueue.
  static Result<std::unique_ptr<WindowWriter>> Create(const WindowTarget& target,
                                                      size_t window_size, unsigned buffers);
  ~WindowWriter();

  size_t window_size() const { return window_size_; }
  const std::string& backend() const { return backend_; }

  // A free buffer (contents undefined) for `window`, or an empty span once the writer has failed:
  // its byte 0 is volume offset BufferBase(window.start), and it reaches AlignUp(window.end).
  // Blocks while every buffer is in use — for a stream target also until the window is among
  // the next `buffers` to write, so windows waiting for an earlier one can never hold every
  // buffer while it waits for one.
  MutableByteView Acquire(const WindowRange& window);
  // Hands `buffer` (from Acquire) back: `window` must have the bytes `dirty` (volume offsets,
  // inside the window) written. Bytes of the window's own blocks that `dirty` touches but does
  // not cover must already hold the target's content (zeros on a fresh file); a block shared
  // with a neighbouring window gets exactly the dirty bytes. `covered` is how many volume bytes
  // the window accounts for, for progress. An empty `buffer` (nothing to write) only counts
  // progress.
  void Commit(const WindowRange& window, MutableByteView buffer, cbt::ExtentList dirty,
              uint64_t covered);
  // Returns an unused buffer.
  void Release(MutableByteView buffer);
  // Records the first error; Acquire then returns empty spans and Run stops.
  void Fail(const Status& status);
  bool failed() const;

  // Writes committed windows until `producers_done()` is true and everything committed is
  // written, calling `tick(bytes covered so far)` about every kProgressInterval.
  // Errors: the first error of a write or given to Fail().
  Status Run(const std::function<bool()>& producers_done,
             const std::function<void(uint64_t)>& tick);

  uint64_t bytes_written() const { return bytes_written_; }

 private:
  struct Committed {
    WindowRange range;
    MutableByteView buffer;
    cbt::ExtentList dirty;
    uint64_t covered;
    std::unique_ptr<PreparedWindow> prepared;
  };
  struct InFlight {
    MutableByteView buffer;
    int writes_left = 0;
    std::unique_ptr<PreparedWindow> prepared;
  };

  WindowWriter(const WindowTarget& target, size_t window_size)
      : target_(target), window_size_(window_size), buffer_size_(window_size + 2 * kBlock) {}
  // Run for a stream target: writes whole windows in volume order.
  Status RunStream(const std::function<bool()>& producers_done,
                   const std::function<void(uint64_t)>& tick);
  // Submits the writes of one window; an error goes to Fail().
  void SubmitWindow(Committed& window, std::vector<io::IoCompletion>* completions);
  // The writes of a window to its own volume offsets: block-aligned runs of its dirty ranges,
  // and the exact dirty bytes of the blocks it shares with its neighbours (a partial last block
  // of the volume is written at once through tail_fd).
  void PlainWrites(Committed& window, std::vector<WindowPlacer::Write>* writes);
  // Queues one write of the buffer with index `index` (reaping when the queue is full).
  void SubmitWrite(const WindowPlacer::Write& w, int index,
                   std::vector<io::IoCompletion>* completions);
  // Frees a buffer once its last write completed.
  void Finished(InFlight& slot);
  // Handles completions: counts bytes, recycles buffers, records errors.
  void Complete(const std::vector<io::IoCompletion>& completions);
  int BufferIndex(const MutableByteView& buffer) const;

  const WindowTarget target_;
  const size_t window_size_;
  // A window may begin and end inside a block: its buffer holds the blocks it touches.
  const size_t buffer_size_;
  std::string backend_;
  io::AlignedBuffer arena_;               // Every window buffer, registered with the queue by Run.
  std::vector<MutableByteView> buffers_;  // The windows of arena_, by index.
  std::unique_ptr<io::IoQueue> queue_;

  mutable std::mutex mu_;
  std::condition_variable free_cv_;
  std::condition_variable committed_cv_;
  std::vector<MutableByteView> free_;
  std::deque<Committed> committed_;
  Status error_;
  bool failed_ = false;
  uint64_t stream_next_ = 0;  // A stream's next window to write (its index).

  // Owned by the Run thread.
  bool registered_ = false;                  // buffers_ are registered with queue_.
  std::vector<InFlight> in_flight_;          // By buffer index.
  std::vector<WindowPlacer::Write> writes_;  // The window being submitted (reused).
  uint64_t bytes_written_ = 0;
  uint64_t covered_ = 0;
};

}  // namespace ferry
