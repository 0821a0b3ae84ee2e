#include "formats/repo/repo_config.h"

#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/exception_words.h"

#include "formats/json_fields.h"

namespace ferry::repo {

using nlohmann::json;

Status ValidateCompressionLevel(int level, std::string_view what) {
  if (level >= 0 && level <= kMaxCompressionLevel) return Status();
  return Status::InvalidArgument(fmt::format("{} {} is out of range: 0 (store uncompressed) to {}",
                                             what, level, kMaxCompressionLevel));
}

std::string EncodeConfig(const RepoConfig& c) {
  json j = {
      {"format", "ferry-repository"},
      {"version", kFormatVersion},
      {"id", c.id.ToHex()},
      {"encryption", c.encrypted ? "aes-256-gcm" : "none"},
      {"compression", c.compression_level > 0 ? "zstd" : "none"},
      {"compression_level", c.compression_level},
      {"chunker",
       {{"algorithm", std::string(chunker::AlgorithmName(c.chunker.algorithm))},
        {"min_size", c.chunker.min_size},
        {"avg_size", c.chunker.avg_size},
        {"max_size", c.chunker.max_size},
        {"level", c.chunker.level}}},
      {"pack_size", c.pack_size},
  };
  if (c.incremental_compression_level) {
    j["incremental_compression_level"] = *c.incremental_compression_level;
  }
  if (c.object_lock.enabled()) {
    j["object_lock"] = {{"mode", c.object_lock.governance ? "governance" : "compliance"},
                        {"days", c.object_lock.days}};
  }
  return j.dump(2) + "\n";
}

Result<RepoConfig> DecodeConfig(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Err(Status::Corruption("config is not valid JSON"));
  }
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || *format != "ferry-repository") {
    return Err(Status::NotSupported("not a ferry repository (config has no ferry format tag)"));
  }
  if (!j.contains("version") || !j["version"].is_number_integer() ||
      j["version"].get<int64_t>() != kFormatVersion) {
    return Err(Status::NotSupported(
        fmt::format("repository format version {} is not supported (this ferry reads version {})",
                    j.contains("version") ? j["version"].dump() : "?", kFormatVersion)));
  }
  RepoConfig c;
  try {
    FERRY_ASSIGN_OR_RETURN(c.id, ParseObjectId(j.at("id").get<std::string>()));
    const std::string enc = j.at("encryption").get<std::string>();
    if (enc != "aes-256-gcm" && enc != "none") {
      return Err(Status::NotSupported("unknown encryption '" + enc + "' in config"));
    }
    c.encrypted = enc == "aes-256-gcm";
    // Levels past zstd's are refused where they are read: a damaged config must not turn into
    // a compressor that silently clamps or allocates for an "ultra" level.
    auto level = [&](const char* field) {
      const int v = json_fields::Unsigned<int>(j, field);
      if (v > kMaxCompressionLevel) {
        throw std::out_of_range(fmt::format("{} {} is out of range", field, v));
      }
      return v;
    };
    c.compression_level =
        j.at("compression").get<std::string>() == "none" ? 0 : level("compression_level");
    if (j.contains("incremental_compression_level")) {
      c.incremental_compression_level = level("incremental_compression_level");
    }
    const json& ch = j.at("chunker");
    FERRY_ASSIGN_OR_RETURN(c.chunker.algorithm,
                           chunker::ParseAlgorithm(ch.at("algorithm").get<std::string>()));
    c.chunker.min_size = json_fields::Unsigned<uint32_t>(ch, "min_size");
    c.chunker.avg_size = json_fields::Unsigned<uint32_t>(ch, "avg_size");
    c.chunker.max_size = json_fields::Unsigned<uint32_t>(ch, "max_size");
    c.chunker.level = json_fields::Unsigned<int>(ch, "level");
    c.pack_size = json_fields::Unsigned<uint32_t>(j, "pack_size");
    if (j.contains("object_lock")) {
      const json& lock = j.at("object_lock");
      const std::string mode = lock.at("mode").get<std::string>();
      if (mode != "compliance" && mode != "governance") {
        return Err(Status::NotSupported("unknown Object Lock mode '" + mode + "' in config"));
      }
      c.object_lock.governance = mode == "governance";
      c.object_lock.days = json_fields::Unsigned<uint32_t>(lock, "days");
      if (c.object_lock.days == 0 || c.object_lock.days > kMaxObjectLockDays) {
        return Err(Status::Corruption(
            fmt::format("config: object_lock days {} is out of range", c.object_lock.days)));
      }
    }
  } catch (const std::exception& e) {
    return Err(Status::Corruption(std::string("config: ") + ExceptionWords(e)));
  }
  if (Status s = chunker::ValidateParams(c.chunker); !s.ok()) return Err(s.WithContext("config"));
  if (c.pack_size < (1u << 20) || c.pack_size > kMaxPackSize) {
    return Err(
        Status::Corruption(fmt::format("config: pack_size {} is out of range", c.pack_size)));
  }
  return c;
}

}  // namespace ferry::repo
