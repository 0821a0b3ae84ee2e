#include "formats/repo/lock_file.h"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/exception_words.h"

#include "formats/json_fields.h"
#include "formats/repo/id_list.h"

namespace ferry::repo {

using nlohmann::json;

namespace {
constexpr std::string_view kPrefix = "locks/";

Result<LockKind> ParseKind(const std::string& text) {
  if (text == "backup") return LockKind::kBackup;
  if (text == "read") return LockKind::kRead;
  if (text == "exclusive") return LockKind::kExclusive;
  return Err(Status::Corruption("unknown lock kind '" + text + "'"));
}
}  // namespace

std::string_view LockKindName(LockKind kind) {
  switch (kind) {
    case LockKind::kBackup:
      return "backup";
    case LockKind::kRead:
      return "read";
    case LockKind::kExclusive:
      return "exclusive";
  }
  return "?";
}

std::string LockName(const ObjectId& session, uint32_t generation) {
  return fmt::format("{}{}-{:08}", kPrefix, session.ToHex(), generation);
}

std::optional<LockNameParts> ParseLockName(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  if (name.size() != 32 + 1 + 8 || name[32] != '-') return std::nullopt;
  auto session = ParseObjectId(name.substr(0, 32));
  if (!session) return std::nullopt;
  const std::string_view digits = name.substr(33);
  uint32_t generation = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), generation);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return LockNameParts{*session, generation};
}

Result<std::string> EncodeLock(Sealer& sealer, const LockRecord& lock) {
  const json j = {{"version", 1},
                  {"session", lock.session.ToHex()},
                  {"generation", lock.generation},
                  {"kind", LockKindName(lock.kind)},
                  {"hostname", lock.hostname},
                  {"pid", lock.pid},
                  {"time", lock.time},
                  {"seen", IdListToJson(lock.seen)}};
  std::string out;
  FERRY_RETURN_IF_ERROR(
      sealer.Seal(AsBytes(LockAad(lock.session.view(), lock.generation)), AsBytes(j.dump()), &out));
  return out;
}

Result<LockRecord> DecodeLock(Sealer& sealer, std::string_view sealed, std::string_view name) {
  const std::string what(name);
  const auto parts = ParseLockName(name);
  if (!parts) return Err(Status::Corruption(what + ": not a lock name"));
  std::string plain;
  FERRY_RETURN_IF_ERROR(sealer.Open(AsBytes(LockAad(parts->session.view(), parts->generation)),
                                    AsBytes(sealed), &plain, what));
  const json j = json::parse(plain, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Corruption(what + ": not JSON"));
  LockRecord lock;
  try {
    if (json_fields::Unsigned<uint32_t>(j, "version") != 1) {
      return Err(Status::NotSupported(what + ": unknown lock version"));
    }
    FERRY_ASSIGN_OR_RETURN(lock.session, ParseObjectId(j.at("session").get<std::string>()));
    lock.generation = json_fields::Unsigned<uint32_t>(j, "generation");
    if (lock.session != parts->session || lock.generation != parts->generation) {
      return Err(Status::Corruption(what + ": content does not match its name"));
    }
    auto kind = ParseKind(j.at("kind").get<std::string>());
    if (!kind) return Err(Status::Corruption(what + ": " + kind.error().message()));
    lock.kind = *kind;
    lock.hostname = j.at("hostname").get<std::string>();
    lock.pid = json_fields::Unsigned<int64_t>(j, "pid");
    lock.time = j.at("time").get<std::string>();
    lock.seen = IdListFromJson(j.at("seen"));
  } catch (const std::exception& e) {
    return Err(Status::Corruption(what + ": " + ExceptionWords(e)));
  }
  return lock;
}

}  // namespace ferry::repo
