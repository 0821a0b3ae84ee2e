// Repository objects fuzz target: locks, prune records, snapshots, index objects, pack headers
// and the config are read from storage anyone with write access may have damaged. The input's first
// byte picks the object; the rest is sealed (unencrypted, so the checksum matches) and decoded, so
// the fuzzer reaches the parsers rather than stopping at authentication. Any bytes must fail
// cleanly; a lock, prune record or config that decodes must encode and decode to itself. (The
// config is plaintext, authenticated through the key file, so it goes to its parser as it is.)
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "formats/repo/index_file.h"
#include "formats/repo/lock_file.h"
#include "formats/repo/pack.h"
#include "formats/repo/prune_record.h"
#include "formats/repo/repo_config.h"
#include "formats/repo/snapshot.h"

namespace repo = ferry::repo;

namespace {

repo::ObjectId FixedId() {
  repo::ObjectId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<uint8_t>(0xa0 + i);
  return id;
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
  switch (data[0] % 6) {
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
  }
  return 0;
}
