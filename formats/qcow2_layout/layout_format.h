// The qcow2 layout (docs/FORMAT.md §11): a directory of plain QCOW2 images, one per backup of
// each volume, each an overlay of the one before, with a JSON sidecar per snapshot. This file
// holds the layout's two JSON documents — `config` and the sidecars — and its naming rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

#include "formats/qcow2/header.h"
#include "formats/repo/ids.h"

namespace ferry::qcow2_layout {

inline constexpr uint64_t kLayoutVersion = 1;
inline constexpr std::string_view kConfigName = "config";
inline constexpr std::string_view kVolumesDir = "volumes";
// Suffix of an image being written (renamed away once it is complete and durable).
inline constexpr std::string_view kPartialSuffix = ".partial";

// The most images a backup chain holds: a backup whose overlay would make the chain longer
// writes a full image instead (FORMAT.md §11.3). Readers follow chains a little deeper
// (qcow2::OpenOptions::max_chain_depth), so every chain written stays readable.
inline constexpr uint32_t kMaxChainImages = 1000;

struct LayoutConfig {
  repo::ObjectId id;
  uint32_t cluster_bits = 16;                     // 64 KiB clusters, QEMU's default.
  std::optional<qcow2::Compression> compression;  // Unset: uncompressed clusters.
  // Chains hold at most this many images (1 to kMaxChainImages): a full image starts the next.
  // 0: kMaxChainImages.
  uint32_t full_every = 0;
};

// What the incremental backup that wrote an overlay started from.
struct IncrementalInfo {
  repo::ObjectId parent;
  std::string cbt;  // "hash" or the change source ("list:FILE", …).
  uint64_t changed_bytes = 0;
  // --cbt-verify: the share of unchanged clusters asked for (0: none), the bytes compared and
  // the clusters that differed. Written only when verify_percent is not 0.
  double verify_percent = 0;
  uint64_t verified_bytes = 0;
  uint64_t mismatches = 0;
  bool fell_back = false;
  bool operator==(const IncrementalInfo&) const = default;
};

struct SnapshotStats {
  uint64_t bytes_read = 0;
  uint64_t clusters = 0;  // Clusters written into the new image (data and compressed).
  uint64_t bytes_written = 0;
  double seconds = 0;
  bool operator==(const SnapshotStats&) const = default;
};

// A sidecar: one volume of one snapshot.
struct Sidecar {
  repo::ObjectId id;
  std::string time;  // RFC 3339 UTC, six fractional digits: string order is time order.
  std::string hostname;
  std::vector<std::string> tags;
  std::string volume;
  std::string source;
  std::string source_format = "raw";
  uint64_t size = 0;
  std::optional<IncrementalInfo> incremental;
  SnapshotStats stats;
  bool operator==(const Sidecar&) const = default;
};

std::string EncodeConfig(const LayoutConfig& config);
// Errors: kNotSupported for another format or version (naming what it is); kCorruption naming
// the bad field.
Result<LayoutConfig> DecodeConfig(std::string_view json);
// Whether `json` is a config of this layout (and not, say, a deduplicated repository's).
bool IsLayoutConfig(std::string_view json);

std::string EncodeSidecar(const Sidecar& sidecar);
// `name` is the sidecar's file name, for errors and to check the id against.
// Errors: kCorruption naming the file and field; kNotSupported for an unknown version.
Result<Sidecar> DecodeSidecar(std::string_view json, std::string_view name);

// OK if `name` may name a volume in this layout; else kInvalidArgument saying why.
Status CheckVolumeName(std::string_view name);

// File names inside a volume's directory.
std::string ImageName(const repo::ObjectId& id);    // "<hex>.qcow2"
std::string SidecarName(const repo::ObjectId& id);  // "<hex>.json"
// The id of an image or sidecar file name, if it is one.
std::optional<repo::ObjectId> IdOfImage(std::string_view file_name);
std::optional<repo::ObjectId> IdOfSidecar(std::string_view file_name);

}  // namespace ferry::qcow2_layout
