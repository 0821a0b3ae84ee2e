// The arguments of the repository commands, shared by the deduplicated layout
// (repo_commands.cc) and the qcow2 layout (layout_commands.cc), and the helpers both print with.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

#include "engine/qcow2_export.h"
#include "formats/repo/ids.h"
#include "formats/repo/repo_config.h"
#include "tools/ferry/chunker_flags.h"
#include "tools/ferry/repo_access.h"

namespace ferry::cli {

struct InitArgs {
  RepoArgs repo;
  std::string layout = "dedup";  // or "qcow2"
  // The deduplicated layout's options, and whether any was given.
  std::string encryption = "aes-256-gcm";
  ChunkerFlags chunker;
  std::optional<int> compression;  // Unset: 3.
  // Unset: 1, or --compression's level when that is given (a level asked for is kept).
  std::optional<int> incremental_compression;
  uint32_t pack_size_mib = repo::kDefaultPackSize >> 20;
  uint32_t object_lock_days = 0;  // 0: no Object Lock.
  std::string object_lock_mode = "compliance";
  bool dedup_options_given = false;
  // The qcow2 layout's.
  uint64_t cluster_size = 65536;
  std::string compress = "none";
  uint32_t full_every = 0;  // 0: the layout's limit.
};

struct BackupArgs {
  RepoArgs repo;
  std::vector<std::string> sources;
  std::string name;
  std::vector<std::string> tags;
  unsigned threads = 0;
  size_t memory_mib = 40;
  bool json = false;
  std::string io_backend = "auto";
  std::string parent;
  std::string cbt;
  double cbt_verify = 0;
  std::string source_format = "auto";
  std::optional<int> compression;  // Unset: the repository's level.
  bool full = false;               // qcow2 layout: a full image, not an overlay.
};

struct ListArgs {
  RepoArgs repo;
  bool json = false;
};

struct RestoreArgs {
  RepoArgs repo;
  std::string what;
  std::string target;
  bool overwrite = false;
  bool delta = false;
  std::string cbt;
  unsigned threads = 0;
  bool json = false;
  std::string format = "raw";
  std::string compress = "none";
  std::string backing;
  uint64_t cluster_size = 65536;
};

struct PruneArgs {
  RepoArgs repo;
  double repack_unused_percent = 25;
  bool dry_run = false;
  bool json = false;
};

struct ForgetArgs {
  RepoArgs repo;
  std::vector<std::string> snapshots;  // SNAPSHOT[:VOLUME]
  // A policy instead of names (the deduplicated layout).
  unsigned keep_last = 0, keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0,
           keep_yearly = 0;
  std::vector<std::string> keep_tags;
  std::string group_by = "host,volumes";
  bool dry_run = false;
  bool prune = false;
  PruneArgs prune_args;
  bool json = false;
  bool policy_given() const {
    return keep_last + keep_hourly + keep_daily + keep_weekly + keep_monthly + keep_yearly != 0 ||
           !keep_tags.empty();
  }
};

struct CheckArgs {
  RepoArgs repo;
  bool read_data = false;
  std::string read_data_subset;  // "N%"
  bool json = false;
};

// --compress none|zstd|zlib (unset for none). Errors: kInvalidArgument naming the values.
Result<std::optional<qcow2::Compression>> ParseQcow2Compression(const std::string& text);
// --cluster-size: a power of two from 2^min_bits to 2 MiB; returns its log2.
Result<uint32_t> ParseClusterSize(uint64_t size, int min_bits);
// --format qcow2 and its options of a restore, checked before the repository is opened (unset
// for --format raw). Errors: kInvalidArgument naming the option.
Result<std::optional<Qcow2ExportOptions>> Qcow2Options(const RestoreArgs& a);
// A restore's --cbt: the target's changes since it held the snapshot, or none (compare the whole
// target, with a warning when the change source says it cannot be trusted). Needs --delta.
Result<std::optional<cbt::ExtentList>> TargetChanges(const RestoreArgs& a);

// Prints the error and returns the exit code for it (usage errors: 2, cancelled: 130, else 1).
int Fail(const Status& s);
// "25%" or "25" as 25; `flag` names the option in errors. Errors: kInvalidArgument unless
// 0 < value <= 100.
Result<double> ParsePercent(const std::string& text, const std::string& flag);
void PrintJson(const nlohmann::json& j);
// The first 8 hex digits of an id, as listings show it.
std::string Short(const repo::ObjectId& id);

}  // namespace ferry::cli
