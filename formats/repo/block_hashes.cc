#include "formats/repo/block_hashes.h"

#include "common/coding.h"

namespace ferry::repo {

std::string EncodeBlockHashPage(uint32_t block_size, uint64_t first_block,
                                std::span<const uint64_t> hashes) {
  std::string out;
  out.reserve(20 + hashes.size() * 8);
  PutFixed32(&out, 1);
  PutFixed32(&out, block_size);
  PutFixed64(&out, first_block);
  PutFixed32(&out, static_cast<uint32_t>(hashes.size()));
  for (uint64_t h : hashes) PutFixed64(&out, h);
  return out;
}

Result<BlockHashPage> DecodeBlockHashPage(std::string_view page, const std::string& what) {
  ByteReader r(page);
  BlockHashPage out;
  const uint32_t version = r.U32();
  out.block_size = r.U32();
  out.first_block = r.U64();
  const uint32_t n = r.U32();
  if (r.failed() || version != 1 || out.block_size == 0 || n != r.remaining() / 8 ||
      r.remaining() % 8 != 0) {
    return Err(Status::Corruption(what + ": malformed block hash page"));
  }
  out.hashes.resize(n);
  for (uint64_t& h : out.hashes) h = r.U64();
  return out;
}

}  // namespace ferry::repo
