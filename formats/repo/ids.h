// Object ids of the repository format (docs/FORMAT.md §1): 16 random bytes, 32 hex characters.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::repo {

struct ObjectId {
  std::array<uint8_t, 16> bytes{};
  bool operator==(const ObjectId&) const = default;
  auto operator<=>(const ObjectId&) const = default;
  std::string ToHex() const {
    return ferry::ToHex({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
  }
  ByteView view() const { return {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}; }
};

struct ObjectIdHash {
  size_t operator()(const ObjectId& id) const noexcept {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof(h));
    return h;
  }
};

// A fresh random id. Errors: kIoError if the random generator fails.
Result<ObjectId> NewObjectId();
// Parses 32 hex characters. Errors: kInvalidArgument naming the text.
Result<ObjectId> ParseObjectId(std::string_view hex);
// The id an object's name ends with ("data/ab/ab12…", "index/…", "snapshots/…"): its last path
// component parsed. Errors: kInvalidArgument naming that component.
Result<ObjectId> ObjectIdOfName(std::string_view name);

}  // namespace ferry::repo
