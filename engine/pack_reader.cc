#include "engine/pack_reader.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace ferry {

namespace {

Status ReadFully(Transport& t, const std::string& name, uint64_t offset, std::string& out) {
  FERRY_ASSIGN_OR_RETURN(
      size_t got, t.ReadAt(name, offset, {reinterpret_cast<std::byte*>(out.data()), out.size()}));
  if (got != out.size()) {
    return Status::Corruption(fmt::format("{}: shorter than listed ({} bytes at offset {} missing)",
                                          name, out.size() - got, offset + got));
  }
  return Status();
}

}  // namespace

unsigned PackReadParallelism(const Transport& transport) {
  return std::max({1u, std::thread::hardware_concurrency(),
                   std::min(transport.capabilities().parallelism, 8u)});
}

Result<PackHeader> ReadPackHeader(Transport& t, repo::Sealer& sealer, const repo::ObjectId& id,
                                  uint64_t size) {
  const std::string name = repo::PackName(id);
  PackHeader info;
  info.size = size;
  if (info.size < repo::kPackTrailerSize) {
    return Err(Status::Corruption(fmt::format("{}: truncated (only {} bytes)", name, info.size)));
  }
  std::string tail(std::min<uint64_t>(info.size, kPackTailRead), '\0');
  FERRY_RETURN_IF_ERROR(ReadFully(t, name, info.size - tail.size(), tail));
  const std::string_view trailer =
      std::string_view(tail).substr(tail.size() - repo::kPackTrailerSize);
  FERRY_ASSIGN_OR_RETURN(uint32_t header_size, repo::ParsePackTrailer(trailer, info.size, name));
  info.blob_area = info.size - repo::kPackTrailerSize - header_size;
  std::string_view header;
  std::string larger;  // A header larger than the tail read: a second read.
  if (header_size + repo::kPackTrailerSize <= tail.size()) {
    header = std::string_view(tail).substr(tail.size() - repo::kPackTrailerSize - header_size,
                                           header_size);
  } else {
    larger.resize(header_size);
    FERRY_RETURN_IF_ERROR(ReadFully(t, name, info.blob_area, larger));
    header = larger;
  }
  FERRY_ASSIGN_OR_RETURN(info.entries,
                         repo::ParsePackHeader(sealer, id, header, info.blob_area, name));
  return info;
}

}  // namespace ferry
