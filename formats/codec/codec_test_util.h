#pragma once

#include <string>

#include <gtest/gtest.h>

#include "common/bytes.h"

namespace ferry::codec {

// Bytes from hex; fails the test on bad hex.
inline std::string Unhex(std::string_view hex) {
  std::string out;
  EXPECT_TRUE(FromHex(hex, &out)) << hex;
  return out;
}

inline MutableByteView Mut(std::string& s) {
  return {reinterpret_cast<std::byte*>(s.data()), s.size()};
}

}  // namespace ferry::codec
