// Snapshot objects (docs/FORMAT.md §8): sealed JSON naming the volumes of one backup and the map
// pages of each. A backup exists exactly when its snapshot object exists.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

#include "formats/codec/chunk_id.h"
#include "formats/repo/ids.h"
#include "formats/repo/sealer.h"

namespace ferry::repo {

struct MapPageRef {
  uint64_t offset = 0;
  codec::ChunkId id;
};

// How an incremental backup of a volume was made (docs/FORMAT.md §8, optional).
struct IncrementalInfo {
  ObjectId parent;              // Snapshot holding the parent volume.
  std::string parent_volume;    // Its name there.
  std::string cbt;              // The change source ("list:FILE", "csi:FILE", …).
  uint64_t changed_bytes = 0;   // Bytes the change source reported.
  double verify_percent = 0;    // --cbt-verify sample asked for.
  uint64_t verified_bytes = 0;  // Bytes re-read and compared with the parent.
  uint64_t mismatches = 0;      // Sampled chunks that differed.
  bool fell_back = false;       // The change source was not trusted: the volume was read in full.
  bool operator==(const IncrementalInfo&) const = default;
};

struct SnapshotVolume {
  std::string name;
  std::string source;
  std::string source_format = "raw";  // How the source was read: "raw" or "qcow2".
  uint64_t size = 0;
  uint64_t page_size = 0;
  std::vector<MapPageRef> pages;
  std::optional<IncrementalInfo> incremental;
  // Block hash pages (§9.1), in block order; none if the backup could not compute them.
  uint32_t hash_block_size = 0;
  std::vector<codec::ChunkId> hash_pages;
};

struct SnapshotStats {
  uint64_t bytes_read = 0;
  uint64_t bytes_new = 0;     // Raw bytes of chunks not already in the repository.
  uint64_t bytes_stored = 0;  // Bytes written to packs (after compression and sealing).
  uint64_t chunks = 0;
  uint64_t chunks_new = 0;
  double seconds = 0;
};

struct Snapshot {
  ObjectId id;
  std::string time;  // RFC 3339, UTC, microseconds, fixed width: string order is time order.
  std::string hostname;
  std::vector<std::string> tags;
  std::optional<ObjectId> parent;
  std::vector<SnapshotVolume> volumes;
  SnapshotStats stats;
};

Result<std::string> EncodeSnapshot(Sealer& sealer, const Snapshot& snapshot);
// Errors: kCorruption naming `name`.
Result<Snapshot> DecodeSnapshot(Sealer& sealer, const ObjectId& id, std::string_view sealed,
                                const std::string& name);

}  // namespace ferry::repo
