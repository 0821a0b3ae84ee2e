#include "cbt/changed_list.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/exception_words.h"

namespace ferry::cbt {

namespace {

using nlohmann::json;

// Parses a whole decimal or 0x-hex unsigned 64-bit number.
bool ParseU64(std::string_view s, uint64_t* out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

Status AddRange(uint64_t offset, uint64_t length, const std::string& where, ExtentList* out) {
  if (length == 0) return Status::InvalidArgument(where + ": a range of length 0");
  if (offset + length < offset) {
    return Status::InvalidArgument(where + ": offset + length overflows 64 bits");
  }
  out->push_back({offset, length});
  return Status();
}

// A field by its proto name or its JSON-mapping (lowerCamelCase) name, or null.
const json* Field(const json& object, const char* proto_name, const char* camel_name) {
  if (auto it = object.find(proto_name); it != object.end()) return &*it;
  if (auto it = object.find(camel_name); it != object.end()) return &*it;
  return nullptr;
}

// A non-negative 64-bit integer given as a JSON number or a decimal string (proto3 JSON).
Result<uint64_t> NonNegative(const json& v, const std::string& where) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    return Err(Status::InvalidArgument(fmt::format("{}: negative value {}", where, v.dump())));
  }
  uint64_t n = 0;
  if (v.is_string() && ParseU64(v.get_ref<const std::string&>(), &n) &&
      v.get_ref<const std::string&>().rfind("0x", 0) != 0) {
    return n;
  }
  return Err(Status::InvalidArgument(
      fmt::format("{}: expected a non-negative integer, got {}", where, v.dump())));
}

}  // namespace

ExtentList Normalize(ExtentList ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  ExtentList out;
  for (const ByteRange& r : ranges) {
    if (r.length == 0) continue;
    if (!out.empty() && r.offset <= out.back().end()) {
      out.back().length = std::max(out.back().end(), r.end()) - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

uint64_t TotalBytes(const ExtentList& ranges) {
  uint64_t total = 0;
  for (const ByteRange& r : ranges) total += r.length;
  return total;
}

Result<ChangedBlocks> ParseChangeList(std::string_view text, const std::string& what) {
  ChangedBlocks out;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = fmt::format("{} line {}", what, line_no);
    size_t sep = line.find_first_of(" \t,");
    if (sep == std::string_view::npos) {
      return Err(Status::InvalidArgument(
          fmt::format("{}: expected \"OFFSET LENGTH\" or \"OFFSET,LENGTH\", got \"{}\"", where,
                      line.substr(0, 80))));
    }
    const std::string_view first = line.substr(0, sep);
    const std::string_view second = Trim(line.substr(sep + 1));
    uint64_t offset = 0, length = 0;
    if (!ParseU64(first, &offset) || !ParseU64(second, &length)) {
      return Err(Status::InvalidArgument(
          fmt::format("{}: \"{}\" is not two non-negative integers", where, line.substr(0, 80))));
    }
    FERRY_RETURN_IF_ERROR(AddRange(offset, length, where, &out.ranges));
  }
  out.ranges = Normalize(std::move(out.ranges));
  return out;
}

Result<ChangedBlocks> ParseCsiDelta(std::string_view text, const std::string& what) {
  // Collect the response objects: one, an array of them, or several concatenated.
  std::vector<json> responses;
  try {
    // operator>> reads one value and leaves the stream just after it.
    std::istringstream in{std::string(text)};
    while (!(in >> std::ws).eof()) {
      json v;
      in >> v;
      if (v.is_array()) {
        for (auto& e : v) responses.push_back(std::move(e));
      } else {
        responses.push_back(std::move(v));
      }
    }
  } catch (const json::exception& e) {
    return Err(
        Status::InvalidArgument(fmt::format("{}: not valid JSON: {}", what, ExceptionWords(e))));
  }
  if (responses.empty()) {
    return Err(Status::InvalidArgument(what + ": no GetMetadataDelta response in it"));
  }
  ChangedBlocks out;
  uint64_t last_end = 0;
  std::optional<uint64_t> fixed_size;
  for (size_t i = 0; i < responses.size(); ++i) {
    const json& r = responses[i];
    const std::string where = fmt::format("{} response {}", what, i + 1);
    if (!r.is_object()) {
      return Err(Status::InvalidArgument(where + ": expected a JSON object"));
    }
    bool fixed = false;
    if (const json* type = Field(r, "block_metadata_type", "blockMetadataType")) {
      if (*type == "FIXED_LENGTH" || *type == 1) {
        fixed = true;
      } else if (!(*type == "VARIABLE_LENGTH" || *type == 2)) {
        return Err(Status::InvalidArgument(
            fmt::format("{}: unknown block_metadata_type {}", where, type->dump())));
      }
    }
    if (const json* cap = Field(r, "volume_capacity_bytes", "volumeCapacityBytes")) {
      FERRY_ASSIGN_OR_RETURN(uint64_t size, NonNegative(*cap, where + " volume_capacity_bytes"));
      if (out.volume_size && *out.volume_size != size) {
        return Err(Status::InvalidArgument(
            fmt::format("{}: volume_capacity_bytes {} differs from the earlier {}", where, size,
                        *out.volume_size)));
      }
      out.volume_size = size;
    }
    const json* blocks = Field(r, "block_metadata", "blockMetadata");
    if (blocks == nullptr) continue;  // A response may carry no blocks.
    if (!blocks->is_array()) {
      return Err(Status::InvalidArgument(where + ": block_metadata is not an array"));
    }
    for (size_t k = 0; k < blocks->size(); ++k) {
      const json& b = (*blocks)[k];
      const std::string at = fmt::format("{} block {}", where, k + 1);
      const json* off = b.is_object() ? Field(b, "byte_offset", "byteOffset") : nullptr;
      const json* len = b.is_object() ? Field(b, "size_bytes", "sizeBytes") : nullptr;
      if (off == nullptr || len == nullptr) {
        return Err(Status::InvalidArgument(at + ": needs byte_offset and size_bytes"));
      }
      FERRY_ASSIGN_OR_RETURN(uint64_t offset, NonNegative(*off, at + " byte_offset"));
      FERRY_ASSIGN_OR_RETURN(uint64_t length, NonNegative(*len, at + " size_bytes"));
      if (fixed) {
        if (fixed_size && *fixed_size != length) {
          return Err(Status::InvalidArgument(
              fmt::format("{}: FIXED_LENGTH blocks of {} and {} bytes", at, *fixed_size, length)));
        }
        fixed_size = length;
      }
      if (!out.ranges.empty() && offset < last_end) {
        return Err(Status::InvalidArgument(fmt::format(
            "{}: offset {} is not after the previous block's end {} (the stream must ascend "
            "without overlap)",
            at, offset, last_end)));
      }
      FERRY_RETURN_IF_ERROR(AddRange(offset, length, at, &out.ranges));
      last_end = offset + length;
    }
  }
  out.ranges = Normalize(std::move(out.ranges));
  return out;
}

Status ValidateForVolume(const ChangedBlocks& changes, uint64_t volume_size,
                         const std::string& what) {
  if (changes.volume_size && *changes.volume_size != volume_size) {
    return Status::InvalidArgument(fmt::format(
        "{} describes a volume of {} bytes, the source has {}: it belongs to another volume", what,
        *changes.volume_size, volume_size));
  }
  if (!changes.ranges.empty() && changes.ranges.back().end() > volume_size) {
    return Status::InvalidArgument(
        fmt::format("{}: changed range {}+{} reaches past the volume's end ({} bytes)", what,
                    changes.ranges.back().offset, changes.ranges.back().length, volume_size));
  }
  return Status();
}

}  // namespace ferry::cbt
