#include "formats/repo/snapshot.h"

#include <nlohmann/json.hpp>

#include "common/exception_words.h"

#include "formats/json_fields.h"

namespace ferry::repo {

using nlohmann::json;

Result<std::string> EncodeSnapshot(Sealer& sealer, const Snapshot& s) {
  json volumes = json::array();
  for (const SnapshotVolume& v : s.volumes) {
    json pages = json::array();
    for (const MapPageRef& p : v.pages)
      pages.push_back({{"offset", p.offset}, {"id", p.id.ToHex()}});
    json vol = {{"name", v.name},
                {"source", v.source},
                {"size", v.size},
                {"page_size", v.page_size},
                {"pages", pages}};
    if (v.source_format != "raw") vol["source_format"] = v.source_format;
    if (const auto& inc = v.incremental) {
      vol["incremental"] = {{"parent", inc->parent.ToHex()},
                            {"parent_volume", inc->parent_volume},
                            {"cbt", inc->cbt},
                            {"changed_bytes", inc->changed_bytes},
                            {"verify_percent", inc->verify_percent},
                            {"verified_bytes", inc->verified_bytes},
                            {"mismatches", inc->mismatches},
                            {"fell_back", inc->fell_back}};
    }
    if (!v.hash_pages.empty()) {
      json ids = json::array();
      for (const auto& id : v.hash_pages) ids.push_back(id.ToHex());
      vol["block_hashes"] = {{"block_size", v.hash_block_size}, {"pages", ids}};
    }
    volumes.push_back(std::move(vol));
  }
  const json j = {{"version", 1},
                  {"id", s.id.ToHex()},
                  {"time", s.time},
                  {"hostname", s.hostname},
                  {"tags", s.tags},
                  {"parent", s.parent ? json(s.parent->ToHex()) : json(nullptr)},
                  {"volumes", volumes},
                  {"stats",
                   {{"bytes_read", s.stats.bytes_read},
                    {"bytes_new", s.stats.bytes_new},
                    {"bytes_stored", s.stats.bytes_stored},
                    {"chunks", s.stats.chunks},
                    {"chunks_new", s.stats.chunks_new},
                    {"seconds", s.stats.seconds}}}};
  std::string out;
  FERRY_RETURN_IF_ERROR(sealer.Seal(AsBytes(SnapshotAad(s.id.view())), AsBytes(j.dump()), &out));
  return out;
}

Result<Snapshot> DecodeSnapshot(Sealer& sealer, const ObjectId& id, std::string_view sealed,
                                const std::string& name) {
  std::string plain;
  FERRY_RETURN_IF_ERROR(
      sealer.Open(AsBytes(SnapshotAad(id.view())), AsBytes(sealed), &plain, name));
  const json j = json::parse(plain, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Corruption(name + ": not JSON"));
  Snapshot s;
  try {
    if (json_fields::Unsigned<uint64_t>(j, "version") != 1) {
      return Err(Status::NotSupported(name + ": unknown snapshot version"));
    }
    FERRY_ASSIGN_OR_RETURN(s.id, ParseObjectId(j.at("id").get<std::string>()));
    if (s.id != id) return Err(Status::Corruption(name + ": id does not match its name"));
    s.time = j.at("time").get<std::string>();
    s.hostname = j.at("hostname").get<std::string>();
    s.tags = j.at("tags").get<std::vector<std::string>>();
    if (!j.at("parent").is_null()) {
      FERRY_ASSIGN_OR_RETURN(s.parent, ParseObjectId(j.at("parent").get<std::string>()));
    }
    for (const json& v : j.at("volumes")) {
      SnapshotVolume vol;
      vol.name = v.at("name").get<std::string>();
      vol.source = v.at("source").get<std::string>();
      vol.source_format = v.value("source_format", std::string("raw"));
      vol.size = json_fields::Unsigned<uint64_t>(v, "size");
      vol.page_size = json_fields::Unsigned<uint64_t>(v, "page_size");
      if (vol.page_size == 0) return Err(Status::Corruption(name + ": page_size is 0"));
      for (const json& p : v.at("pages")) {
        MapPageRef ref;
        ref.offset = json_fields::Unsigned<uint64_t>(p, "offset");
        std::string raw;
        if (!FromHex(p.at("id").get<std::string>(), &raw) || raw.size() != 32) {
          return Err(Status::Corruption(name + ": bad page id"));
        }
        std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(ref.id.bytes.data()));
        vol.pages.push_back(ref);
      }
      if (auto it = v.find("block_hashes"); it != v.end()) {
        vol.hash_block_size = json_fields::Unsigned<uint32_t>(*it, "block_size");
        if (vol.hash_block_size == 0) return Err(Status::Corruption(name + ": block_size is 0"));
        for (const json& p : it->at("pages")) {
          std::string raw;
          if (!FromHex(p.get<std::string>(), &raw) || raw.size() != 32) {
            return Err(Status::Corruption(name + ": bad block hash page id"));
          }
          codec::ChunkId page_id;
          std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(page_id.bytes.data()));
          vol.hash_pages.push_back(page_id);
        }
      }
      if (auto it = v.find("incremental"); it != v.end()) {
        const json& inc = *it;
        IncrementalInfo info;
        FERRY_ASSIGN_OR_RETURN(info.parent, ParseObjectId(inc.at("parent").get<std::string>()));
        info.parent_volume = inc.at("parent_volume").get<std::string>();
        info.cbt = inc.at("cbt").get<std::string>();
        info.changed_bytes = json_fields::Unsigned<uint64_t>(inc, "changed_bytes");
        info.verify_percent = json_fields::Number(inc, "verify_percent");
        info.verified_bytes = json_fields::Unsigned<uint64_t>(inc, "verified_bytes");
        info.mismatches = json_fields::Unsigned<uint64_t>(inc, "mismatches");
        info.fell_back = inc.at("fell_back").get<bool>();
        vol.incremental = info;
      }
      s.volumes.push_back(std::move(vol));
    }
    const json& st = j.at("stats");
    s.stats = {json_fields::Unsigned<uint64_t>(st, "bytes_read"),
               json_fields::Unsigned<uint64_t>(st, "bytes_new"),
               json_fields::Unsigned<uint64_t>(st, "bytes_stored"),
               json_fields::Unsigned<uint64_t>(st, "chunks"),
               json_fields::Unsigned<uint64_t>(st, "chunks_new"),
               json_fields::Number(st, "seconds")};
  } catch (const std::exception& e) {
    return Err(Status::Corruption(name + ": " + ExceptionWords(e)));
  }
  return s;
}

}  // namespace ferry::repo
