// Repository objects fuzz target: locks, prune records, snapshots, index objects, pack headers
// and trailers, volume map pages, block-hash pages, key files and the config are read from
// storage anyone with write access may have damaged. The input's first byte picks the object;
// the rest is sealed (unencrypted, so the checksum matches) and decoded, so the fuzzer reaches
// the parsers rather than stopping at authentication. Any bytes must fail cleanly; a lock, prune
// record, map page, block-hash page or config that decodes must encode and decode to itself.
// (The config and key files are plaintext, authenticated through each other; map and hash pages
// are the plaintext of chunks, whose seal the chunk reader checks: they go to their parsers as
// they are.)
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "formats/repo/block_hashes.h"
#include "formats/repo/index_file.h"
#include "formats/repo/key_file.h"
#include "formats/repo/lock_file.h"
#include "formats/repo/pack.h"
#include "formats/repo/prune_record.h"
#include "formats/repo/repo_config.h"
#include "formats/repo/snapshot.h"
#include "formats/repo/volume_map.h"

namespace repo = ferry::repo;

namespace {

repo::ObjectId FixedId() {
  repo::ObjectId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<uint8_t>(0xa0 + i);
  return id;
}

// A key file whose scrypt would take more than a moment: its parameters are within what
// DecodeKeyFile accepts (up to 1 GiB and seconds of work), which is its own defence, but a
// fuzzer needs thousands of inputs a second.
bool CostlyKeyFile(std::string_view json) {
  const auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  const auto cost = [&](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : uint64_t{0};
  };
  return cost("n") > 4096 || cost("r") > 8 || cost("p") > 2;
}

std::string Seal(repo::Sealer& sealer, const std::string& aad, std::string_view body) {
  std::string out;
  if (!sealer.Seal(ferry::AsBytes(aad), ferry::AsBytes(body), &out).ok()) std::abort();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto sealer = repo::Sealer::Create({});
  if (!sealer) std::abort();
  repo::Sealer& s = **sealer;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const repo::ObjectId id = FixedId();
  switch (data[0] % 10) {
    case 0: {
      const std::string name = repo::LockName(id, 7);
      if (auto lock = repo::DecodeLock(s, Seal(s, repo::LockAad(id.view(), 7), body), name)) {
        auto sealed = repo::EncodeLock(s, *lock);
        if (!sealed) std::abort();
        auto again = repo::DecodeLock(s, *sealed, name);
        if (!again || again->seen != lock->seen || again->pid != lock->pid ||
            again->kind != lock->kind || again->time != lock->time) {
          std::abort();
        }
      }
      break;
    }
    case 1: {
      const std::string name = repo::PruneRecordName(id);
      if (auto r = repo::DecodePruneRecord(s, id, Seal(s, repo::PruneRecordAad(id.view()), body),
                                           name)) {
        auto sealed = repo::EncodePruneRecord(s, *r);
        if (!sealed) std::abort();
        auto again = repo::DecodePruneRecord(s, id, *sealed, name);
        if (!again || again->packs != r->packs || again->snapshots != r->snapshots) std::abort();
      }
      break;
    }
    case 2:
      (void)repo::DecodeSnapshot(s, id, Seal(s, repo::SnapshotAad(id.view()), body), "snapshot");
      break;
    case 3:
      (void)repo::DecodeIndex(s, id, Seal(s, repo::IndexAad(id.view()), body), "index");
      break;
    case 4:
      (void)repo::ParsePackHeader(s, id, Seal(s, repo::PackHeaderAad(id.view()), body), 1u << 20,
                                  "pack");
      break;
    case 5:
      if (auto c = repo::DecodeConfig(body)) {
        auto again = repo::DecodeConfig(repo::EncodeConfig(*c));
        if (!again || again->id != c->id || again->pack_size != c->pack_size ||
            again->object_lock.days != c->object_lock.days ||
            again->object_lock.governance != c->object_lock.governance ||
            again->chunker.avg_size != c->chunker.avg_size) {
          std::abort();
        }
      }
      break;
    case 6:
      if (auto extents = repo::DecodeMapPage(body, "map page")) {
        auto again = repo::DecodeMapPage(repo::EncodeMapPage(*extents), "map page");
        if (!again || *again != *extents) std::abort();
      }
      break;
    case 7:
      if (auto page = repo::DecodeBlockHashPage(body, "hash page")) {
        auto again = repo::DecodeBlockHashPage(
            repo::EncodeBlockHashPage(page->block_size, page->first_block, page->hashes),
            "hash page");
        if (!again || again->block_size != page->block_size ||
            again->first_block != page->first_block || again->hashes != page->hashes) {
          std::abort();
        }
      }
      break;
    case 8:
      // The pack's size from the first eight bytes (any size, tiny or absurd), its trailer from
      // the rest.
      if (body.size() >= 8) {
        uint64_t pack_size = 0;
        for (size_t i = 0; i < 8; ++i) pack_size = pack_size << 8 | static_cast<uint8_t>(body[i]);
        if (auto header = repo::ParsePackTrailer(body.substr(8), pack_size, "pack")) {
          if (*header > pack_size - repo::kPackTrailerSize) std::abort();
        }
      }
      break;
    case 9:
      (void)repo::DecodeKeyLabel(body);  // What `ferry key list` reads, without a passphrase.
      if (!CostlyKeyFile(body)) {
        (void)repo::DecodeKeyFile(body, "{\"version\":1}", "passphrase");
      }
      break;
  }
  return 0;
}
