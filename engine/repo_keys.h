// The key files of a repository (docs/FORMAT.md §4): list them, add one for another passphrase,
// remove one. Each wraps the same master key, so a passphrase is changed by adding a key for
// the new one and removing the old: nothing else in the repository changes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/repository.h"

namespace ferry {

struct KeyInfo {
  repo::ObjectId id;
  repo::KeyLabel label;  // Empty fields for key files written before labels existed.
  bool current = false;  // The key this repository was opened with.
};

// Who adds a key file from this process, and when.
repo::KeyLabel ThisProcessKeyLabel();

// Every key file, in name order. Errors: a listing's or a read's; kCorruption naming a key file
// that is not one.
Result<std::vector<KeyInfo>> ListKeys(Repository& repository);

// Wraps the master key under `passphrase` in a new key file; returns its id. Errors:
// kInvalidArgument for an empty passphrase, kNotSupported for an unencrypted repository (its
// key is stored plain: there is no passphrase to add).
Result<repo::ObjectId> AddKey(Repository& repository, std::string_view passphrase,
                              const codec::ScryptParams& params = {});

// Adds a key for `passphrase` (as AddKey), then removes the key `repository` was opened with,
// which from then on is the new one. Returns the new key's id. Errors: AddKey's (then nothing
// changed), and RemoveKey's other refusals (then both keys exist).
Result<repo::ObjectId> ChangePassphrase(Repository& repository, std::string_view passphrase,
                                        const codec::ScryptParams& params);

// Removes key file `id`: its passphrase opens the repository no more. Refuses the key the
// repository was opened with (so the last key is never removed: open with another passphrase
// to remove this one), a key that does not exist (kNotFound), and, under Object Lock, every
// key (kNotSupported: the key file stays until its retention ends, and with it the passphrase).
Status RemoveKey(Repository& repository, const repo::ObjectId& id);

}  // namespace ferry
