// Byte spans and small helpers shared by every module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace ferry {

using ByteView = std::span<const std::byte>;
using MutableByteView = std::span<std::byte>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline MutableByteView AsWritableBytes(std::string& s) {
  return {reinterpret_cast<std::byte*>(s.data()), s.size()};
}
inline const uint8_t* AsU8(ByteView v) { return reinterpret_cast<const uint8_t*>(v.data()); }
inline uint8_t* AsU8(MutableByteView v) { return reinterpret_cast<uint8_t*>(v.data()); }

// Lower-case hex of `data`.
std::string ToHex(ByteView data);
// Parses hex (either case, even length) into bytes; returns false on any bad character.
bool FromHex(std::string_view hex, std::string* out);
// True if every byte of `data` is zero (true for an empty span).
bool IsAllZero(ByteView data);

// `v` rounded down / up to a multiple of `a` (> 0).
constexpr uint64_t AlignDown(uint64_t v, uint64_t a) { return v / a * a; }
constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace ferry
