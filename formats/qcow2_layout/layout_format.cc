#include "formats/qcow2_layout/layout_format.h"

#include <bit>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/exception_words.h"

#include "formats/json_fields.h"

namespace ferry::qcow2_layout {

namespace {

using nlohmann::json;

constexpr std::string_view kConfigFormat = "ferry-qcow2-layout";
constexpr std::string_view kSidecarFormat = "ferry-qcow2-snapshot";
constexpr uint32_t kMinClusterBits = 12;  // 4 KiB
constexpr uint32_t kMaxClusterBits = 21;  // 2 MiB, QEMU's limit

std::string_view CompressionName(const std::optional<qcow2::Compression>& c) {
  if (!c) return "none";
  return *c == qcow2::Compression::kZstd ? "zstd" : "zlib";
}

// The id of `file_name` if it is "<32 hex><suffix>".
std::optional<repo::ObjectId> IdWithSuffix(std::string_view file_name, std::string_view suffix) {
  if (file_name.size() != 32 + suffix.size() || !file_name.ends_with(suffix)) return std::nullopt;
  auto id = repo::ParseObjectId(file_name.substr(0, 32));
  if (!id) return std::nullopt;
  return *id;
}

}  // namespace

std::string EncodeConfig(const LayoutConfig& config) {
  json j = {{"format", kConfigFormat},
            {"version", kLayoutVersion},
            {"id", config.id.ToHex()},
            {"cluster_size", uint64_t{1} << config.cluster_bits},
            {"compression", CompressionName(config.compression)}};
  if (config.full_every != 0) j["full_every"] = config.full_every;
  return j.dump(2) + "\n";
}

bool IsLayoutConfig(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  return j.is_object() && j.contains("format") && j["format"].is_string() &&
         j["format"].get<std::string>() == kConfigFormat;
}

Result<LayoutConfig> DecodeConfig(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Corruption("config: not JSON"));
  LayoutConfig c;
  try {
    const auto format = j.at("format").get<std::string>();
    if (format != kConfigFormat) {
      return Err(Status::NotSupported("config: format '" + format + "' is not the qcow2 layout"));
    }
    if (json_fields::Unsigned<uint64_t>(j, "version") != kLayoutVersion) {
      return Err(Status::NotSupported(
          fmt::format("config: qcow2 layout version {} (this ferry reads version {})",
                      j.at("version").dump(), kLayoutVersion)));
    }
    FERRY_ASSIGN_OR_RETURN(c.id, repo::ParseObjectId(j.at("id").get<std::string>()));
    const uint64_t cluster = json_fields::Unsigned<uint64_t>(j, "cluster_size");
    const int bits = std::countr_zero(cluster);
    if (!std::has_single_bit(cluster) || bits < static_cast<int>(kMinClusterBits) ||
        bits > static_cast<int>(kMaxClusterBits)) {
      return Err(Status::Corruption(fmt::format(
          "config: cluster_size {} is not a power of two from 4096 to 2097152", cluster)));
    }
    c.cluster_bits = static_cast<uint32_t>(bits);
    const auto compression = j.at("compression").get<std::string>();
    if (compression == "zstd") {
      c.compression = qcow2::Compression::kZstd;
    } else if (compression == "zlib") {
      c.compression = qcow2::Compression::kZlib;
    } else if (compression != "none") {
      return Err(Status::Corruption("config: unknown compression '" + compression + "'"));
    }
    if (j.contains("full_every")) {
      const uint64_t n = json_fields::Unsigned<uint64_t>(j, "full_every");
      if (n < 1 || n > kMaxChainImages) {
        return Err(Status::Corruption(
            fmt::format("config: full_every {} is not from 1 to {}", n, kMaxChainImages)));
      }
      c.full_every = static_cast<uint32_t>(n);
    }
  } catch (const std::exception& e) {
    return Err(Status::Corruption(std::string("config: ") + ExceptionWords(e)));
  }
  return c;
}

std::string EncodeSidecar(const Sidecar& s) {
  json j = {{"format", kSidecarFormat},
            {"version", kLayoutVersion},
            {"id", s.id.ToHex()},
            {"time", s.time},
            {"hostname", s.hostname},
            {"tags", s.tags},
            {"volume", s.volume},
            {"source", s.source},
            {"source_format", s.source_format},
            {"size", s.size},
            {"image", ImageName(s.id)},
            {"stats",
             {{"bytes_read", s.stats.bytes_read},
              {"clusters", s.stats.clusters},
              {"bytes_written", s.stats.bytes_written},
              {"seconds", s.stats.seconds}}}};
  if (const auto& inc = s.incremental) {
    j["incremental"] = {{"parent", inc->parent.ToHex()},
                        {"cbt", inc->cbt},
                        {"changed_bytes", inc->changed_bytes},
                        {"fell_back", inc->fell_back}};
    if (inc->verify_percent != 0) {
      j["incremental"]["verify_percent"] = inc->verify_percent;
      j["incremental"]["verified_bytes"] = inc->verified_bytes;
      j["incremental"]["mismatches"] = inc->mismatches;
    }
  }
  return j.dump(2) + "\n";
}

Result<Sidecar> DecodeSidecar(std::string_view text, std::string_view name) {
  const std::string where(name);
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Err(Status::Corruption(where + ": not JSON"));
  Sidecar s;
  try {
    if (j.at("format").get<std::string>() != kSidecarFormat) {
      return Err(Status::Corruption(where + ": not a ferry qcow2 snapshot sidecar"));
    }
    if (json_fields::Unsigned<uint64_t>(j, "version") != kLayoutVersion) {
      return Err(
          Status::NotSupported(where + ": unknown sidecar version " + j.at("version").dump()));
    }
    FERRY_ASSIGN_OR_RETURN(s.id, repo::ParseObjectId(j.at("id").get<std::string>()));
    if (IdOfSidecar(name) != s.id) {
      return Err(
          Status::Corruption(where + ": the id " + s.id.ToHex() + " does not match the name"));
    }
    s.time = j.at("time").get<std::string>();
    s.hostname = j.at("hostname").get<std::string>();
    s.tags = j.at("tags").get<std::vector<std::string>>();
    s.volume = j.at("volume").get<std::string>();
    FERRY_RETURN_IF_ERROR(CheckVolumeName(s.volume).WithContext(where));
    s.source = j.at("source").get<std::string>();
    s.source_format = j.at("source_format").get<std::string>();
    s.size = json_fields::Unsigned<uint64_t>(j, "size");
    if (j.at("image").get<std::string>() != ImageName(s.id)) {
      return Err(Status::Corruption(where + ": image must be " + ImageName(s.id)));
    }
    if (j.contains("incremental")) {
      const json& i = j.at("incremental");
      IncrementalInfo inc;
      FERRY_ASSIGN_OR_RETURN(inc.parent, repo::ParseObjectId(i.at("parent").get<std::string>()));
      inc.cbt = i.at("cbt").get<std::string>();
      inc.changed_bytes = json_fields::Unsigned<uint64_t>(i, "changed_bytes");
      inc.fell_back = i.at("fell_back").get<bool>();
      if (i.contains("verify_percent")) {
        inc.verify_percent = json_fields::Number(i, "verify_percent");
        if (!(inc.verify_percent > 0 && inc.verify_percent <= 100)) {
          return Err(Status::Corruption(where + ": verify_percent must be above 0, at most 100"));
        }
        inc.verified_bytes = json_fields::Unsigned<uint64_t>(i, "verified_bytes");
        inc.mismatches = json_fields::Unsigned<uint64_t>(i, "mismatches");
      }
      s.incremental = std::move(inc);
    }
    const json& st = j.at("stats");
    s.stats.bytes_read = json_fields::Unsigned<uint64_t>(st, "bytes_read");
    s.stats.clusters = json_fields::Unsigned<uint64_t>(st, "clusters");
    s.stats.bytes_written = json_fields::Unsigned<uint64_t>(st, "bytes_written");
    s.stats.seconds = json_fields::Number(st, "seconds");
  } catch (const std::exception& e) {
    return Err(Status::Corruption(where + ": " + ExceptionWords(e)));
  }
  return s;
}

Status CheckVolumeName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(
        fmt::format("volume name '{}' {}: the qcow2 layout keeps each volume in a directory of "
                    "that name (use --name)",
                    name, why));
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > 200) return bad("is longer than 200 bytes");
  if (name.front() == '.') return bad("starts with '.'");
  for (char c : name) {
    if (c == '/') return bad("holds '/'");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("holds a control character");
  }
  return Status();
}

std::string ImageName(const repo::ObjectId& id) { return id.ToHex() + ".qcow2"; }
std::string SidecarName(const repo::ObjectId& id) { return id.ToHex() + ".json"; }
std::optional<repo::ObjectId> IdOfImage(std::string_view f) { return IdWithSuffix(f, ".qcow2"); }
std::optional<repo::ObjectId> IdOfSidecar(std::string_view f) { return IdWithSuffix(f, ".json"); }

}  // namespace ferry::qcow2_layout
