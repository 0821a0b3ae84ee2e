#include "engine/pack_reader.h"

#include <fmt/format.h>

namespace ferry {

Result<PackHeader> ReadPackHeader(Transport& t, repo::Sealer& sealer, const repo::ObjectId& id) {
  const std::string name = repo::PackName(id);
  PackHeader info;
  FERRY_ASSIGN_OR_RETURN(info.size, t.Size(name));
  if (info.size < repo::kPackTrailerSize) {
    return Err(Status::Corruption(fmt::format("{}: truncated (only {} bytes)", name, info.size)));
  }
  std::string trailer(repo::kPackTrailerSize, '\0');
  FERRY_RETURN_IF_ERROR(t.ReadAt(name, info.size - repo::kPackTrailerSize,
                                 {reinterpret_cast<std::byte*>(trailer.data()), trailer.size()}));
  FERRY_ASSIGN_OR_RETURN(uint32_t header_size, repo::ParsePackTrailer(trailer, info.size, name));
  info.blob_area = info.size - repo::kPackTrailerSize - header_size;
  std::string header(header_size, '\0');
  FERRY_RETURN_IF_ERROR(
      t.ReadAt(name, info.blob_area, {reinterpret_cast<std::byte*>(header.data()), header.size()}));
  FERRY_ASSIGN_OR_RETURN(info.entries,
                         repo::ParsePackHeader(sealer, id, header, info.blob_area, name));
  return info;
}

}  // namespace ferry
