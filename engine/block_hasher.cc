#include "engine/block_hasher.h"

#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "formats/repo/block_hashes.h"

namespace ferry {

namespace {

// Zeros to hash from, shared by every hasher (never written).
ByteView ZeroBytes(size_t n) {
  static const std::string zeros(1u << 20, '\0');
  return AsBytes(std::string_view(zeros).substr(0, std::min(n, zeros.size())));
}

uint64_t HashOfZeros(uint32_t n) {
  codec::Xxh3Stream s;
  for (uint64_t left = n; left > 0;) {
    const ByteView z = ZeroBytes(static_cast<size_t>(left));
    s.Update(z);
    left -= z.size();
  }
  return s.Digest();
}

}  // namespace

BlockHasher::BlockHasher(uint32_t block_size)
    : block_size_(block_size), zero_block_hash_(HashOfZeros(block_size)) {}

void BlockHasher::Take(ByteView data) {
  while (!data.empty()) {
    const uint64_t in_block = pos_ % block_size_;
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>(data.size(), block_size_ - in_block));
    if (in_block == 0 && take == block_size_) {
      hashes_.push_back(HashBlock(data.first(take)));  // The common case: one call, no state.
    } else {
      partial_.Update(data.first(take));
      if (in_block + take == block_size_) {
        hashes_.push_back(partial_.Digest());
        partial_.Reset();
      }
    }
    pos_ += take;
    data = data.subspan(take);
  }
}

void BlockHasher::Zeros(uint64_t to) {
  while (pos_ < to) {
    if (pos_ % block_size_ == 0 && to - pos_ >= block_size_) {
      hashes_.push_back(zero_block_hash_);
      pos_ += block_size_;
      continue;
    }
    const uint64_t block_end = (pos_ / block_size_ + 1) * block_size_;
    Take(ZeroBytes(static_cast<size_t>(std::min(to, block_end) - pos_)));
  }
}

void BlockHasher::Feed(uint64_t offset, ByteView data) {
  Zeros(offset);
  Take(data);
}

std::vector<uint64_t> BlockHasher::Finish(uint64_t size) {
  Zeros(size);
  if (pos_ % block_size_ != 0) {
    hashes_.push_back(partial_.Digest());
    partial_.Reset();
  }
  return std::move(hashes_);
}

void SeenBlockHashes::Feed(uint64_t offset, ByteView data) {
  if (offset != next_) open_ = false;
  while (!data.empty()) {
    const uint64_t in_block = offset % block_size_;
    const uint64_t block_end = std::min(offset - in_block + block_size_, volume_size_);
    const size_t take = static_cast<size_t>(std::min<uint64_t>(data.size(), block_end - offset));
    if (in_block == 0) {
      open_block_.Reset();
      open_ = true;
    }
    if (open_) {
      open_block_.Update(data.first(take));
      if (offset + take == block_end) hashes_[offset / block_size_] = open_block_.Digest();
    }
    offset += take;
    data = data.subspan(take);
  }
  next_ = offset;
}

std::optional<uint64_t> SeenBlockHashes::Find(uint64_t index) const {
  auto it = hashes_.find(index);
  if (it == hashes_.end()) return std::nullopt;
  return it->second;
}

Result<std::vector<uint64_t>> LoadBlockHashes(Repository& repository,
                                              const repo::SnapshotVolume& volume) {
  std::vector<uint64_t> hashes;
  if (volume.hash_pages.empty()) return hashes;
  auto what = [&](size_t i) {
    return fmt::format("block hash page {} of volume {}",
                       volume.hash_pages[i].ToHex().substr(0, 16), volume.name);
  };
  std::vector<repo::BlockHashPage> pages(volume.hash_pages.size());
  auto decode = [&](size_t i, std::string& page) -> Status {
    FERRY_ASSIGN_OR_RETURN(pages[i], repo::DecodeBlockHashPage(page, what(i)));
    return Status();
  };
  FERRY_RETURN_IF_ERROR(repository.ReadChunks(volume.hash_pages, what, decode));
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pages[i].block_size != volume.hash_block_size || pages[i].first_block != hashes.size()) {
      return Err(Status::Corruption(what(i) + ": does not continue the pages before it"));
    }
    hashes.insert(hashes.end(), pages[i].hashes.begin(), pages[i].hashes.end());
  }
  const uint64_t expected = (volume.size + volume.hash_block_size - 1) / volume.hash_block_size;
  if (hashes.size() != expected) {
    return Err(Status::Corruption(fmt::format("volume {}: {} block hashes for {} blocks",
                                              volume.name, hashes.size(), expected)));
  }
  return hashes;
}

}  // namespace ferry
