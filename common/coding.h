// Fixed-width encoding for on-disk formats: little-endian for ferry's own formats, big-endian for
// foreign ones (QCOW2), with a bounds-checked reader for untrusted input (every Get* fails
// instead of reading past the end).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ferry {

inline void PutFixed8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }
inline void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  dst->append(b, 8);
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline void EncodeFixed32(void* p, uint32_t v) {
  auto* b = static_cast<unsigned char*>(p);
  for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Big-endian (QCOW2 and other formats from the network-byte-order world).
inline uint16_t DecodeBig16(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return static_cast<uint16_t>((b[0] << 8) | b[1]);
}
inline uint32_t DecodeBig32(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}
inline uint64_t DecodeBig64(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return (uint64_t{DecodeBig32(b)} << 32) | DecodeBig32(b + 4);
}
inline void EncodeBig16(void* p, uint16_t v) {
  auto* b = static_cast<uint8_t*>(p);
  b[0] = static_cast<uint8_t>(v >> 8);
  b[1] = static_cast<uint8_t>(v);
}
inline void EncodeBig32(void* p, uint32_t v) {
  auto* b = static_cast<uint8_t*>(p);
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
inline void EncodeBig64(void* p, uint64_t v) {
  auto* b = static_cast<uint8_t*>(p);
  EncodeBig32(b, static_cast<uint32_t>(v >> 32));
  EncodeBig32(b + 4, static_cast<uint32_t>(v));
}

// Reads fields front to back from untrusted bytes; any read past the end sets failed() and
// returns zeros, so a parser can read a whole record and check once.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  uint8_t U8() { return Has(1) ? static_cast<uint8_t>(data_[pos_++]) : 0; }
  uint32_t U32() {
    if (!Has(4)) return 0;
    const uint32_t v = DecodeFixed32(data_.data() + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t U64() {
    if (!Has(8)) return 0;
    const uint64_t v = DecodeFixed64(data_.data() + pos_);
    pos_ += 8;
    return v;
  }
  // Copies n bytes into dst (which must hold n).
  void Bytes(void* dst, size_t n) {
    if (!Has(n)) return;
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
  }
  size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  bool failed() const { return failed_; }

 private:
  bool Has(size_t n) {
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace ferry
