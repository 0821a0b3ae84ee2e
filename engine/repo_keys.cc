#include "engine/repo_keys.h"

#include <fmt/format.h>

#include "common/origin.h"

#include "engine/repo_lock.h"

namespace ferry {

repo::KeyLabel ThisProcessKeyLabel() { return {NowRfc3339(), LocalHostname(), LocalUsername()}; }

Result<std::vector<KeyInfo>> ListKeys(Repository& repository) {
  Transport& t = repository.transport();
  FERRY_ASSIGN_OR_RETURN(auto names, t.List("keys"));
  std::vector<KeyInfo> keys;
  for (const std::string& name : names) {
    KeyInfo info;
    FERRY_ASSIGN_OR_RETURN(info.id, repo::ObjectIdOfName(name));
    auto bytes = t.Get(name);
    if (!bytes && bytes.error().IsNotFound()) continue;  // Removed since the listing.
    if (!bytes) return Err(bytes.error());
    auto label = repo::DecodeKeyLabel(*bytes);
    if (!label) return Err(label.error().WithContext(name));
    info.label = std::move(*label);
    info.current = info.id == repository.key_id();
    keys.push_back(std::move(info));
  }
  return keys;
}

Result<repo::ObjectId> AddKey(Repository& repository, std::string_view passphrase,
                              const codec::ScryptParams& params) {
  if (!repository.config().encrypted) {
    return Err(Status::NotSupported(
        "this repository is not encrypted: its key is stored plain, and no passphrase opens it"));
  }
  if (passphrase.empty()) return Err(Status::InvalidArgument("the new passphrase is empty"));
  FERRY_RETURN_IF_ERROR(repository.CheckWritable());
  FERRY_ASSIGN_OR_RETURN(std::string file,
                         repo::EncodeKeyFile(repository.key(), repository.config_bytes(), true,
                                             passphrase, params, ThisProcessKeyLabel()));
  FERRY_ASSIGN_OR_RETURN(repo::ObjectId id, repo::NewObjectId());
  FERRY_RETURN_IF_ERROR(repository.transport().Put(repo::KeyName(id), AsBytes(file), true));
  return id;
}

Result<repo::ObjectId> ChangePassphrase(Repository& repository, std::string_view passphrase,
                                        const codec::ScryptParams& params) {
  const repo::ObjectId old = repository.key_id();
  FERRY_ASSIGN_OR_RETURN(repo::ObjectId added, AddKey(repository, passphrase, params));
  // The new key is written first: a failure between the two leaves both passphrases working,
  // never none.
  repository.key_id_ = added;
  if (Status s = RemoveKey(repository, old); !s.ok()) {
    return Err(
        s.WithNote(fmt::format("key {} for the new passphrase was added; the old "
                               "passphrase works too until key {} is removed",
                               added.ToHex().substr(0, 8), old.ToHex().substr(0, 8))));
  }
  return added;
}

Status RemoveKey(Repository& repository, const repo::ObjectId& id) {
  const std::string name = repo::KeyName(id);
  if (id == repository.key_id()) {
    return Status::InvalidArgument(fmt::format(
        "key {} is the one this passphrase opened: open the repository with another key's "
        "passphrase to remove it (a repository always keeps one key)",
        id.ToHex().substr(0, 8)));
  }
  if (repository.config().object_lock.enabled()) {
    return Status::NotSupported(fmt::format(
        "key files are kept under Object Lock like everything else of this repository ({} "
        "days): {} cannot be removed before its retention ends, and its passphrase opens the "
        "repository until then",
        repository.config().object_lock.days, name));
  }
  // Two removals at once, each by a key the other removes, would leave no key at all, and the
  // repository unopenable: an exclusive lock keeps them apart, and under it the key in use must
  // still be there.
  FERRY_ASSIGN_OR_RETURN(auto lock, RepoLock::Acquire(repository, repo::LockKind::kExclusive));
  Transport& t = repository.transport();
  auto own = t.Size(repo::KeyName(repository.key_id()));
  if (!own && own.error().IsNotFound()) {
    return Status::Unavailable(fmt::format(
        "key {}, which opened this repository, was removed meanwhile: nothing was removed",
        repository.key_id().ToHex().substr(0, 8)));
  }
  if (!own) return own.error();
  auto size = t.Size(name);
  if (!size && size.error().IsNotFound()) {
    return Status::NotFound(fmt::format("no key {} in {}", id.ToHex().substr(0, 8), t.Describe()));
  }
  if (!size) return size.error();
  FERRY_RETURN_IF_ERROR(t.Remove(name));
  return lock->Release();
}

}  // namespace ferry
