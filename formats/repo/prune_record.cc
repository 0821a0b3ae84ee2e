#include "formats/repo/prune_record.h"

#include <nlohmann/json.hpp>

#include "common/exception_words.h"

#include "formats/json_fields.h"
#include "formats/repo/id_list.h"

namespace ferry::repo {

using nlohmann::json;

std::string PruneRecordName(const ObjectId& id) { return "prune/" + id.ToHex(); }

Result<std::string> EncodePruneRecord(Sealer& sealer, const PruneRecord& r) {
  const json j = {{"version", 1},
                  {"id", r.id.ToHex()},
                  {"time", r.time},
                  {"hostname", r.hostname},
                  {"snapshots", IdListToJson(r.snapshots)},
                  {"packs", IdListToJson(r.packs)}};
  std::string out;
  FERRY_RETURN_IF_ERROR(sealer.Seal(AsBytes(PruneRecordAad(r.id.view())), AsBytes(j.dump()), &out));
  return out;
}

Result<PruneRecord> DecodePruneRecord(Sealer& sealer, const ObjectId& id, std::string_view sealed,
                                      const std::string& name) {
  std::string plain;
  FERRY_RETURN_IF_ERROR(
      sealer.Open(AsBytes(PruneRecordAad(id.view())), AsBytes(sealed), &plain, name));
  const json j = json::parse(plain, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Corruption(name + ": not JSON"));
  PruneRecord r;
  try {
    if (json_fields::Unsigned<uint32_t>(j, "version") != 1) {
      return Err(Status::NotSupported(name + ": unknown prune record version"));
    }
    FERRY_ASSIGN_OR_RETURN(r.id, ParseObjectId(j.at("id").get<std::string>()));
    if (r.id != id) return Err(Status::Corruption(name + ": id does not match its name"));
    r.time = j.at("time").get<std::string>();
    r.hostname = j.at("hostname").get<std::string>();
    r.snapshots = IdListFromJson(j.at("snapshots"));
    r.packs = IdListFromJson(j.at("packs"));
  } catch (const std::exception& e) {
    return Err(Status::Corruption(name + ": " + ExceptionWords(e)));
  }
  return r;
}

}  // namespace ferry::repo
