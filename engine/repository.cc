#include "engine/repository.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <mutex>

#include <fmt/format.h>

#include "common/parallel_for.h"

#include "engine/repo_keys.h"
#include "formats/repo/pack.h"

namespace ferry {

namespace {
constexpr char kConfigName[] = "config";
}

ObjectLockPolicy Repository::object_lock_policy() const {
  const repo::ObjectLockSettings& lock = config_.object_lock;
  // Locks, prune records and indexes must stay replaceable and deletable (docs/FORMAT.md §15).
  return {.mode = lock.governance ? ObjectLockPolicy::Mode::kGovernance
                                  : ObjectLockPolicy::Mode::kCompliance,
          .period = std::chrono::days(lock.days),
          .exempt_prefixes = {"locks/", "prune/", "index/"}};
}

Result<std::unique_ptr<Repository>> Repository::Init(std::unique_ptr<Transport> transport,
                                                     const InitOptions& options) {
  if (options.encrypted && options.passphrase.empty()) {
    return Err(Status::InvalidArgument("an encrypted repository needs a passphrase"));
  }
  FERRY_RETURN_IF_ERROR(chunker::ValidateParams(options.chunker));
  FERRY_RETURN_IF_ERROR(
      repo::ValidateCompressionLevel(options.compression_level, "compression level"));
  const int incremental_level = options.incremental_compression_level.value_or(
      std::min(options.compression_level, repo::kDefaultIncrementalCompressionLevel));
  FERRY_RETURN_IF_ERROR(
      repo::ValidateCompressionLevel(incremental_level, "incremental compression level"));
  if (auto existing = transport->Size(kConfigName); existing.has_value()) {
    return Err(Status::AlreadyExists("a repository already exists at " + transport->Describe()));
  }
  repo::RepoConfig config;
  FERRY_ASSIGN_OR_RETURN(config.id, repo::NewObjectId());
  config.encrypted = options.encrypted;
  config.compression_level = options.compression_level;
  config.incremental_compression_level = incremental_level;
  config.chunker = options.chunker;
  config.pack_size = options.pack_size;
  config.object_lock = options.object_lock;
  if (config.object_lock.days > repo::kMaxObjectLockDays) {
    return Err(Status::InvalidArgument(
        fmt::format("Object Lock can retain for at most {} days", repo::kMaxObjectLockDays)));
  }
  std::unique_ptr<Repository> repository(
      new Repository(std::move(transport), std::move(config), repo::MasterKey{}));
  if (repository->config_.object_lock.enabled()) {
    FERRY_RETURN_IF_ERROR(
        repository->transport_->SetObjectLockPolicy(repository->object_lock_policy()));
  }
  FERRY_RETURN_IF_ERROR(repository->WriteNew(options));
  return repository;
}

// The key goes first: a config without a key would be an unopenable repository.
Status Repository::WriteNew(const InitOptions& options) {
  const std::string config_bytes = repo::EncodeConfig(config_);
  FERRY_ASSIGN_OR_RETURN(repo::MasterKey key, repo::NewMasterKey());
  FERRY_ASSIGN_OR_RETURN(
      std::string key_file,
      repo::EncodeKeyFile(key, config_bytes, options.encrypted, options.passphrase, options.scrypt,
                          ThisProcessKeyLabel()));
  FERRY_ASSIGN_OR_RETURN(repo::ObjectId key_id, repo::NewObjectId());
  FERRY_RETURN_IF_ERROR(transport_->Put(repo::KeyName(key_id), AsBytes(key_file)));
  FERRY_RETURN_IF_ERROR(transport_->Put(kConfigName, AsBytes(config_bytes), true));
  key_ = std::move(key);
  key_id_ = key_id;
  config_bytes_ = config_bytes;
  return Status();
}

namespace {
Result<std::string> ReadConfigBytes(Transport& t) {
  auto bytes = t.Get(kConfigName);
  if (!bytes) {
    if (bytes.error().IsNotFound()) {
      return Err(Status::NotFound("no ferry repository at " + t.Describe() +
                                  " (no config; run ferry init first)"));
    }
    return Err(bytes.error());
  }
  return std::move(*bytes);
}
}  // namespace

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Transport> transport,
                                                     std::string_view passphrase) {
  const std::string given(passphrase);
  return Open(std::move(transport), [&]() -> Result<std::string> { return given; });
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Transport> transport,
                                                     const PassphraseSource& passphrase_source) {
  // Listing the key files does not need the config: a remote repository answers both requests
  // at once, a round trip fewer for every command. (Leaving early waits for the listing.)
  auto key_listing = std::async(std::launch::async, [&t = *transport] { return t.List("keys"); });
  FERRY_ASSIGN_OR_RETURN(std::string config_bytes, ReadConfigBytes(*transport));
  FERRY_ASSIGN_OR_RETURN(repo::RepoConfig config, repo::DecodeConfig(config_bytes));
  std::string passphrase;
  if (config.encrypted) {
    FERRY_ASSIGN_OR_RETURN(passphrase, passphrase_source());
  }
  FERRY_ASSIGN_OR_RETURN(auto key_names, key_listing.get());
  if (key_names.empty()) {
    return Err(Status::Corruption("repository at " + transport->Describe() + " has no key files"));
  }
  Status last;
  for (const std::string& name : key_names) {
    FERRY_ASSIGN_OR_RETURN(std::string key_file, transport->Get(name));
    auto key = repo::DecodeKeyFile(key_file, config_bytes, passphrase);
    if (key) {
      std::unique_ptr<Repository> repository(
          new Repository(std::move(transport), std::move(config), std::move(*key)));
      FERRY_ASSIGN_OR_RETURN(repository->key_id_, repo::ObjectIdOfName(name));
      repository->config_bytes_ = std::move(config_bytes);
      if (repository->config_.object_lock.enabled()) {
        const Status s =
            repository->transport_->SetObjectLockPolicy(repository->object_lock_policy());
        if (!s.ok()) {
          repository->writable_ = Status::NotSupported(fmt::format(
              "this repository keeps what it writes under Object Lock ({} days), which {} "
              "cannot do: {}",
              repository->config_.object_lock.days, repository->transport_->Describe(),
              s.message()));
        }
      }
      return repository;
    }
    last = key.error().WithContext(name);
    if (key.error().code() == Status::Code::kPermissionDenied) {
      last = key.error();  // "wrong passphrase" reads best alone.
    }
  }
  return Err(last);
}

Result<std::unique_ptr<repo::Sealer>> Repository::NewSealer() const {
  return repo::Sealer::Create(config_.encrypted ? key_.data_key() : ByteView{});
}

Result<std::unique_ptr<codec::ChunkIdHasher>> Repository::NewHasher() const {
  return codec::ChunkIdHasher::Create(key_.id_key());
}

Status Repository::GetEach(const std::vector<std::string>& names, const ObjectUse& use,
                           std::atomic<bool>* vanished) {
  // One request per object: on a remote repository each is a round trip, and a repository
  // holds an index object per backup and a snapshot object per snapshot.
  return ParallelFor(names.size(), std::max(1u, transport_->capabilities().parallelism),
                     [&](size_t i) -> Status {
                       const std::string& name = names[i];
                       FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::ObjectIdOfName(name));
                       auto bytes = transport_->Get(name);
                       if (!bytes && bytes.error().IsNotFound()) {
                         vanished->store(true);
                         return Status();
                       }
                       if (!bytes) return bytes.error();
                       FERRY_ASSIGN_OR_RETURN(auto sealer, NewSealer());
                       return use(i, id, *bytes, *sealer);
                     });
}

Status Repository::LoadIndex(const std::set<repo::ObjectId>& avoid_packs, Avoid mode) {
  index_.clear();
  std::set<std::string> loaded;
  std::mutex index_mu;
  // Which of two copies of a chunk outside the avoided packs is kept does not matter (either
  // is whole and verified on read); a copy outside them always wins over one inside.
  auto add = [&](const repo::IndexEntry& e) {
    const ChunkLocation loc{e.pack, e.type, e.offset, e.stored_size, e.raw_size};
    if (avoid_packs.count(e.pack) == 0) {
      auto [it, inserted] = index_.try_emplace(e.id, loc);
      if (!inserted && avoid_packs.count(it->second.pack) != 0) it->second = loc;
    } else if (mode == Avoid::kPreferOthers) {
      AddToIndex(e);
    }
  };
  // A prune replaces an index object by writing the new one first and then deleting the old:
  // when one vanishes under us, its replacement is in a fresh listing.
  for (std::atomic<bool> vanished = true; vanished;) {
    vanished = false;
    FERRY_ASSIGN_OR_RETURN(auto listed, transport_->List("index"));
    std::vector<std::string> names;
    for (std::string& name : listed) {
      if (loaded.insert(name).second) names.push_back(std::move(name));
    }
    FERRY_RETURN_IF_ERROR(GetEach(
        names,
        [&](size_t i, const repo::ObjectId& id, const std::string& sealed,
            repo::Sealer& sealer) -> Status {
          auto entries = repo::DecodeIndex(sealer, id, sealed, names[i]);
          if (!entries && entries.error().IsCorruption()) {
            return entries.error().WithNote(
                "`ferry repair index` rebuilds the index from the packs");
          }
          if (!entries) return entries.error();
          std::lock_guard lock(index_mu);
          for (const auto& e : *entries) add(e);
          return Status();
        },
        &vanished));
  }
  return Status();
}

void Repository::AddToIndex(const repo::IndexEntry& e) {
  index_.try_emplace(e.id, ChunkLocation{e.pack, e.type, e.offset, e.stored_size, e.raw_size});
}

const ChunkLocation* Repository::Find(const codec::ChunkId& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &it->second;
}

Result<repo::Snapshot> Repository::LoadSnapshot(const repo::ObjectId& id) {
  const std::string name = "snapshots/" + id.ToHex();
  FERRY_ASSIGN_OR_RETURN(std::string sealed, transport_->Get(name));
  FERRY_ASSIGN_OR_RETURN(auto sealer, NewSealer());
  return repo::DecodeSnapshot(*sealer, id, sealed, name);
}

Result<std::vector<repo::Snapshot>> Repository::ListSnapshots() {
  FERRY_ASSIGN_OR_RETURN(auto names, transport_->List("snapshots"));
  std::vector<std::optional<repo::Snapshot>> loaded(names.size());
  std::atomic<bool> forgotten = false;  // Since the listing: left out.
  FERRY_RETURN_IF_ERROR(GetEach(
      names,
      [&](size_t i, const repo::ObjectId& id, const std::string& sealed,
          repo::Sealer& sealer) -> Status {
        FERRY_ASSIGN_OR_RETURN(loaded[i], repo::DecodeSnapshot(sealer, id, sealed, names[i]));
        return Status();
      },
      &forgotten));
  std::vector<repo::Snapshot> out;
  for (auto& s : loaded) {
    if (s) out.push_back(std::move(*s));
  }
  std::sort(out.begin(), out.end(), [](const repo::Snapshot& a, const repo::Snapshot& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
  return out;
}

Result<repo::Snapshot> Repository::ResolveSnapshot(std::string_view spec) {
  if (spec == "latest") {
    FERRY_ASSIGN_OR_RETURN(auto all, ListSnapshots());
    if (all.empty()) return Err(Status::NotFound("the repository has no snapshots"));
    return all.back();
  }
  FERRY_ASSIGN_OR_RETURN(auto names, transport_->List("snapshots"));
  std::vector<std::string> matches;
  for (const std::string& name : names) {
    const std::string hex = name.substr(name.rfind('/') + 1);
    if (hex.rfind(spec, 0) == 0) matches.push_back(hex);
  }
  if (matches.empty() || spec.empty()) {
    return Err(Status::NotFound(fmt::format("no snapshot matches '{}'", spec)));
  }
  if (matches.size() > 1) {
    return Err(Status::InvalidArgument(
        fmt::format("'{}' matches {} snapshots; give more of the id", spec, matches.size())));
  }
  FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::ParseObjectId(matches[0]));
  return LoadSnapshot(id);
}

Status Repository::ForgetSnapshot(const repo::ObjectId& id) {
  return transport_->Remove("snapshots/" + id.ToHex());
}

Result<std::optional<SystemTime>> Repository::SnapshotLockedUntil(const repo::ObjectId& id) {
  if (!config_.object_lock.enabled()) return std::optional<SystemTime>();
  FERRY_ASSIGN_OR_RETURN(SystemTime until, transport_->RetainedUntil("snapshots/" + id.ToHex()));
  if (until <= std::chrono::system_clock::now()) return std::optional<SystemTime>();
  return std::optional<SystemTime>(until);
}

Result<ByteView> Repository::DecodeChunkPayload(std::string_view plaintext, uint32_t raw_size,
                                                const codec::ChunkId& id,
                                                codec::ZstdDecompressor& dec,
                                                codec::ChunkIdHasher& hasher, std::string* scratch,
                                                const std::string& what) {
  if (plaintext.empty()) return Err(Status::Corruption(what + ": empty blob"));
  const uint8_t encoding = static_cast<uint8_t>(plaintext[0]);
  const std::string_view payload = plaintext.substr(1);
  ByteView chunk;
  if (encoding == 0) {
    if (payload.size() != raw_size) {
      return Err(Status::Corruption(
          fmt::format("{}: stored {} bytes, expected {}", what, payload.size(), raw_size)));
    }
    chunk = AsBytes(payload);
  } else if (encoding == 1) {
    scratch->resize(raw_size);
    Status s = dec.Decompress(AsBytes(payload),
                              {reinterpret_cast<std::byte*>(scratch->data()), scratch->size()});
    if (!s.ok()) return Err(s.WithContext(what));
    chunk = AsBytes(*scratch);
  } else {
    return Err(Status::Corruption(fmt::format("{}: unknown chunk encoding {}", what, encoding)));
  }
  if (hasher.Hash(chunk) != id) {
    return Err(Status::Corruption(what + ": content does not match its id"));
  }
  return chunk;
}

Status Repository::DecodeChunkUnverified(std::string_view plaintext, codec::ZstdDecompressor& dec,
                                         MutableByteView dest, const std::string& what) {
  if (plaintext.empty()) return Status::Corruption(what + ": empty blob");
  const uint8_t encoding = static_cast<uint8_t>(plaintext[0]);
  const std::string_view payload = plaintext.substr(1);
  if (encoding == 0) {
    if (payload.size() != dest.size()) {
      return Status::Corruption(
          fmt::format("{}: stored {} bytes, expected {}", what, payload.size(), dest.size()));
    }
    std::memcpy(dest.data(), payload.data(), payload.size());
  } else if (encoding == 1) {
    Status s = dec.Decompress(AsBytes(payload), dest);
    if (!s.ok()) return s.WithContext(what);
  } else {
    return Status::Corruption(fmt::format("{}: unknown chunk encoding {}", what, encoding));
  }
  return Status();
}

Status Repository::DecodeChunkInto(std::string_view plaintext, const codec::ChunkId& id,
                                   codec::ZstdDecompressor& dec, codec::ChunkIdHasher& hasher,
                                   MutableByteView dest, const std::string& what) {
  FERRY_RETURN_IF_ERROR(DecodeChunkUnverified(plaintext, dec, dest, what));
  if (hasher.Hash(dest) != id) return Status::Corruption(what + ": content does not match its id");
  return Status();
}

Status Repository::ReadChunk(const codec::ChunkId& id, const ChunkLocation& loc,
                             repo::Sealer& sealer, codec::ZstdDecompressor& dec,
                             codec::ChunkIdHasher& hasher, std::string* out) {
  const std::string pack = repo::PackName(loc.pack);
  const std::string what = fmt::format("{} chunk {}", pack, id.ToHex().substr(0, 16));
  std::string sealed(loc.stored_size, '\0');
  FERRY_ASSIGN_OR_RETURN(
      size_t n, transport_->ReadAt(pack, loc.offset,
                                   {reinterpret_cast<std::byte*>(sealed.data()), sealed.size()}));
  if (n != sealed.size()) {
    return Status::Corruption(what + ": pack is truncated");
  }
  std::string plain;
  FERRY_RETURN_IF_ERROR(
      sealer.Open(AsBytes(repo::ChunkAad(id.view())), AsBytes(sealed), &plain, what));
  std::string scratch;
  FERRY_ASSIGN_OR_RETURN(ByteView chunk,
                         DecodeChunkPayload(plain, loc.raw_size, id, dec, hasher, &scratch, what));
  out->assign(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  return Status();
}

Status Repository::ReadChunks(const std::vector<codec::ChunkId>& ids,
                              const std::function<std::string(size_t i)>& what,
                              const ChunkUse& use) {
  std::vector<const ChunkLocation*> locations;
  for (size_t i = 0; i < ids.size(); ++i) {
    locations.push_back(Find(ids[i]));
    if (locations.back() == nullptr) return Status::Corruption(what(i) + " is not in the index");
  }
  return ReadChunksAt(ids, locations, use);
}

Status Repository::ReadChunksAt(std::span<const codec::ChunkId> ids,
                                std::span<const ChunkLocation* const> locations,
                                const ChunkUse& use) {
  return ParallelFor(
      ids.size(), std::max(1u, transport_->capabilities().parallelism), [&](size_t i) -> Status {
        FERRY_ASSIGN_OR_RETURN(auto sealer, NewSealer());
        FERRY_ASSIGN_OR_RETURN(auto hasher, NewHasher());
        codec::ZstdDecompressor dec;
        std::string bytes;
        FERRY_RETURN_IF_ERROR(ReadChunk(ids[i], *locations[i], *sealer, dec, *hasher, &bytes));
        return use(i, bytes);
      });
}

namespace {
// Grows `*buf` to at least `size` bytes and never shrinks it: a buffer reused for every chunk
// is zero-filled only where it has never been before.
MutableByteView AtLeast(std::string* buf, size_t size) {
  if (buf->size() < size) buf->resize(size);
  return {reinterpret_cast<std::byte*>(buf->data()), buf->size()};
}
}  // namespace

Result<ByteView> EncodeChunkBlob(const codec::ChunkId& id, ByteView data,
                                 codec::ZstdCompressor* compressor, repo::Sealer& sealer,
                                 std::string* scratch, std::string* out) {
  bool compressed = false;
  size_t payload = 0;
  if (compressor != nullptr) {
    const MutableByteView room =
        AtLeast(scratch, 1 + codec::ZstdCompressor::MaxOutputSize(data.size()));
    FERRY_ASSIGN_OR_RETURN(codec::CompressOutcome c, compressor->Compress(data, room.subspan(1)));
    compressed = !c.stored_raw;
    payload = c.size;
  }
  const std::byte encoding{compressed ? uint8_t{1} : uint8_t{0}};
  const std::string aad = repo::ChunkAad(id.view());
  // Stored raw: the encoding byte and the chunk are sealed as two pieces, without copying the
  // chunk.
  ByteView pieces[] = {ByteView(&encoding, 1), data};
  if (compressed) {
    (*scratch)[0] = static_cast<char>(encoding);
    pieces[0] = AsBytes(std::string_view(*scratch).substr(0, 1 + payload));
    pieces[1] = {};
  }
  const MutableByteView room =
      AtLeast(out, pieces[0].size() + pieces[1].size() + sealer.overhead());
  FERRY_ASSIGN_OR_RETURN(size_t n, sealer.SealPiecesInto(AsBytes(aad), pieces, room));
  return ByteView(room.data(), n);
}

}  // namespace ferry
