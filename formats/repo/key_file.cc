#include "formats/repo/key_file.h"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "common/exception_words.h"

#include "formats/codec/aes_gcm.h"
#include "formats/codec/secure_random.h"
#include "formats/json_fields.h"

namespace ferry::repo {

using nlohmann::json;

namespace {

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return ToHex({reinterpret_cast<const std::byte*>(md), len});
}

std::string KeyAad(const std::string& config_sha) {
  return std::string("ferry-key") + '\0' + config_sha;
}

// Refuse absurd scrypt costs from a damaged file before spending a minute on them.
bool SaneScrypt(uint64_t n, uint32_t r, uint32_t p) {
  return n >= 1024 && n <= (uint64_t{1} << 22) && r >= 1 && r <= 32 && p >= 1 && p <= 16;
}

// The fields of an encrypted key file: `master` sealed under a key derived from `passphrase`.
Result<json> SealMasterKey(const MasterKey& master, const std::string& config_sha,
                           std::string_view passphrase, const codec::ScryptParams& params) {
  FERRY_ASSIGN_OR_RETURN(std::string salt, codec::RandomString(32));
  FERRY_ASSIGN_OR_RETURN(std::string kek,
                         codec::DeriveKeyScrypt(passphrase, AsBytes(salt), params, 32));
  FERRY_ASSIGN_OR_RETURN(auto gcm, codec::Aes256Gcm::Create(AsBytes(kek)));
  std::string sealed(codec::Aes256Gcm::SealedSize(master.bytes.size()), '\0');
  FERRY_RETURN_IF_ERROR(gcm->Seal(AsBytes(KeyAad(config_sha)), AsBytes(master.bytes),
                                  {reinterpret_cast<std::byte*>(sealed.data()), sealed.size()}));
  return json{{"kdf", "scrypt"},
              {"n", params.n},
              {"r", params.r},
              {"p", params.p},
              {"salt", ToHex(AsBytes(salt))},
              {"config_sha256", config_sha},
              {"master", ToHex(AsBytes(sealed))}};
}

}  // namespace

std::string KeyName(const ObjectId& id) { return "keys/" + id.ToHex(); }

Result<MasterKey> NewMasterKey() {
  FERRY_ASSIGN_OR_RETURN(std::string bytes, codec::RandomString(kMasterKeySize));
  return MasterKey{std::move(bytes)};
}

Result<std::string> EncodeKeyFile(const MasterKey& master, std::string_view config_bytes,
                                  bool encrypted, std::string_view passphrase,
                                  const codec::ScryptParams& params, const KeyLabel& label) {
  const std::string config_sha = Sha256Hex(config_bytes);
  json j;
  if (!encrypted) {
    j = json{
        {"kdf", "none"}, {"config_sha256", config_sha}, {"master", ToHex(AsBytes(master.bytes))}};
  } else {
    FERRY_ASSIGN_OR_RETURN(j, SealMasterKey(master, config_sha, passphrase, params));
  }
  if (!label.created.empty()) j["created"] = label.created;
  if (!label.hostname.empty()) j["hostname"] = label.hostname;
  if (!label.username.empty()) j["username"] = label.username;
  return j.dump(2) + "\n";
}

Result<KeyLabel> DecodeKeyLabel(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kdf")) {
    return Err(Status::Corruption("key file is not JSON"));
  }
  KeyLabel label;
  for (auto [field, out] :
       {std::pair{"created", &label.created}, std::pair{"hostname", &label.hostname},
        std::pair{"username", &label.username}}) {
    if (auto it = j.find(field); it != j.end() && it->is_string()) *out = it->get<std::string>();
  }
  return label;
}

Result<MasterKey> DecodeKeyFile(std::string_view text, std::string_view config_bytes,
                                std::string_view passphrase) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Corruption("key file is not JSON"));
  try {
    const std::string config_sha = j.at("config_sha256").get<std::string>();
    if (config_sha != Sha256Hex(config_bytes)) {
      return Err(Status::Corruption(
          "config does not match its key file (config_sha256 differs): config was changed"));
    }
    std::string master_raw;
    if (!FromHex(j.at("master").get<std::string>(), &master_raw)) {
      return Err(Status::Corruption("key file: master is not hex"));
    }
    const std::string kdf = j.at("kdf").get<std::string>();
    if (kdf == "none") {
      if (master_raw.size() != kMasterKeySize) {
        return Err(Status::Corruption("key file: master key has the wrong size"));
      }
      return MasterKey{std::move(master_raw)};
    }
    if (kdf != "scrypt") return Err(Status::NotSupported("key file: unknown kdf '" + kdf + "'"));
    codec::ScryptParams params{json_fields::Unsigned<uint64_t>(j, "n"),
                               json_fields::Unsigned<uint32_t>(j, "r"),
                               json_fields::Unsigned<uint32_t>(j, "p")};
    if (!SaneScrypt(params.n, params.r, params.p)) {
      return Err(Status::Corruption("key file: scrypt parameters are out of range"));
    }
    std::string salt;
    if (!FromHex(j.at("salt").get<std::string>(), &salt) || salt.size() < 16) {
      return Err(Status::Corruption("key file: bad salt"));
    }
    FERRY_ASSIGN_OR_RETURN(std::string kek,
                           codec::DeriveKeyScrypt(passphrase, AsBytes(salt), params, 32));
    FERRY_ASSIGN_OR_RETURN(auto gcm, codec::Aes256Gcm::Create(AsBytes(kek)));
    std::string master(kMasterKeySize + 64, '\0');
    auto opened = gcm->Open(AsBytes(KeyAad(config_sha)), AsBytes(master_raw),
                            {reinterpret_cast<std::byte*>(master.data()), master.size()});
    if (!opened) return Err(Status::PermissionDenied("wrong passphrase"));
    if (*opened != kMasterKeySize) return Err(Status::Corruption("key file: bad master key size"));
    master.resize(*opened);
    return MasterKey{std::move(master)};
  } catch (const std::exception& e) {
    return Err(Status::Corruption(std::string("key file: ") + ExceptionWords(e)));
  }
}

}  // namespace ferry::repo
