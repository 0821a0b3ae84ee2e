#include "formats/repo/ids.h"

#include <fmt/format.h>

#include "formats/codec/secure_random.h"

namespace ferry::repo {

Result<ObjectId> NewObjectId() {
  ObjectId id;
  FERRY_RETURN_IF_ERROR(
      codec::FillRandom({reinterpret_cast<std::byte*>(id.bytes.data()), id.bytes.size()}));
  return id;
}

Result<ObjectId> ParseObjectId(std::string_view hex) {
  std::string raw;
  if (hex.size() != 32 || !FromHex(hex, &raw)) {
    return Err(Status::InvalidArgument(fmt::format("'{}' is not a 32-hex-digit id", hex)));
  }
  ObjectId id;
  std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(id.bytes.data()));
  return id;
}

Result<ObjectId> ObjectIdOfName(std::string_view name) {
  const size_t slash = name.rfind('/');
  return ParseObjectId(slash == std::string_view::npos ? name : name.substr(slash + 1));
}

}  // namespace ferry::repo
