// Key files (docs/FORMAT.md §4): the 64-byte master key, wrapped with a passphrase-derived key
// (scrypt + AES-256-GCM) or stored plain for unencrypted repositories.
#pragma once

#include <string>

#include "common/result.h"

#include "formats/codec/scrypt_kdf.h"
#include "formats/repo/ids.h"

namespace ferry::repo {

inline constexpr size_t kMasterKeySize = 64;

struct MasterKey {
  std::string bytes;  // 64 bytes: data key (0–31), id key (32–63).
  ByteView data_key() const { return AsBytes(std::string_view(bytes).substr(0, 32)); }
  ByteView id_key() const { return AsBytes(std::string_view(bytes).substr(32, 32)); }
};

// "keys/<id>".
std::string KeyName(const ObjectId& id);

// A fresh random master key.
Result<MasterKey> NewMasterKey();

// Who made a key file, and when: what tells a repository's keys apart in a listing. Optional
// (key files written before 2026-11-25 have none): empty when absent.
struct KeyLabel {
  std::string created;  // RFC 3339.
  std::string hostname;
  std::string username;
};

// The JSON of a key file for `master`, bound to `config_bytes`. With `encrypted`, wraps the key
// under `passphrase` (scrypt with `params`); otherwise stores it plain.
Result<std::string> EncodeKeyFile(const MasterKey& master, std::string_view config_bytes,
                                  bool encrypted, std::string_view passphrase,
                                  const codec::ScryptParams& params, const KeyLabel& label = {});

// The label of a key file, read without its passphrase. Errors: kCorruption if it is not a key
// file's JSON.
Result<KeyLabel> DecodeKeyLabel(std::string_view json);

// Opens a key file. Errors: kPermissionDenied "wrong passphrase" when authentication fails;
// kCorruption if the file is malformed or `config_bytes` do not match config_sha256.
Result<MasterKey> DecodeKeyFile(std::string_view json, std::string_view config_bytes,
                                std::string_view passphrase);

}  // namespace ferry::repo
