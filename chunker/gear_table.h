// The FastCDC gear table (64-bit entries, index = byte value). See gear_table.cc for its origin.
#pragma once

#include <array>
#include <cstdint>

namespace ferry::chunker {

extern const std::array<uint64_t, 256> kGear;

}  // namespace ferry::chunker
