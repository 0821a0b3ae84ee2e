// AlignedBuffer: an owned, aligned byte buffer (for O_DIRECT and registered io_uring buffers).
// Thread-safety: a plain value; not shared.
#pragma once

#include <cstddef>

#include "common/bytes.h"

namespace ferry::io {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Allocates `size` bytes (rounded up to `alignment`, a power of two) aligned to `alignment`.
  // Throws std::bad_alloc when out of memory, like operator new.
  explicit AlignedBuffer(size_t size, size_t alignment = 4096);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  MutableByteView span() { return {data_, size_}; }
  ByteView view() const { return {data_, size_}; }

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ferry::io
