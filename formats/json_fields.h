// Reading numbers out of the JSON documents ferry stores (configs, key files, snapshots,
// sidecars) strictly. nlohmann's get<T>() converts a float or a negative number to an integer
// type unchecked — undefined behaviour once it is out of range — so a damaged document could
// yield any value. These refuse anything but a non-negative integer that fits T.
#pragma once

#include <limits>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace ferry::json_fields {

// j[key] as T. Throws (a std::exception, like json's own errors) if it is missing, not an
// unsigned integer, or larger than T can hold.
template <typename T>
T Unsigned(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  if (!v.is_number_unsigned()) {
    throw std::invalid_argument(std::string(key) + " is not a non-negative integer");
  }
  const auto n = v.get<uint64_t>();
  if (n > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
    throw std::out_of_range(std::string(key) + " is out of range");
  }
  return static_cast<T>(n);
}

// j[key] as a double (any JSON number).
inline double Number(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  if (!v.is_number()) throw std::invalid_argument(std::string(key) + " is not a number");
  return v.get<double>();
}

}  // namespace ferry::json_fields
