// JSON arrays of object ids ("<32 hex>", …) as lock and prune objects store them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/repo/ids.h"

namespace ferry::repo {

inline nlohmann::json IdListToJson(const std::vector<ObjectId>& ids) {
  nlohmann::json out = nlohmann::json::array();
  for (const ObjectId& id : ids) out.push_back(id.ToHex());
  return out;
}

// Throws std::invalid_argument (like json's own errors) on anything but an array of ids.
inline std::vector<ObjectId> IdListFromJson(const nlohmann::json& j) {
  std::vector<ObjectId> out;
  if (!j.is_array()) throw std::invalid_argument("not a list of ids");
  out.reserve(j.size());
  for (const nlohmann::json& v : j) {
    auto id = ParseObjectId(v.get<std::string>());
    if (!id) throw std::invalid_argument(id.error().message());
    out.push_back(*id);
  }
  return out;
}

}  // namespace ferry::repo
