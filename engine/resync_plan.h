// ResyncPlan: the logic of a CBT-driven incremental backup of one volume, without I/O.
//
// A full backup chunks each allocated range of a volume from its start. An incremental one
// follows the same chain of cut points but takes the parent's chunks without reading wherever
// it can prove the chain would cut exactly as the parent did: the chunker's next cut depends
// only on where the current chunk starts and on the bytes up to that cut (plus
// chunker::kMaxCutLag), so a parent chunk [p, q) is the new chain's next chunk whenever the new
// chain has a cut at p, no byte of [p, q + lag] changed, and the range ends neither inside it
// nor (unless it ended there in the parent too) at q. Elsewhere the engine re-chunks from the
// last cut until a new cut lands on a parent cut whose chunk can be taken again: the chains
// are then resynchronised. The result equals the map of a full backup of the new volume.
//
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <vector>

#include "cbt/extent_list.h"
#include "formats/repo/volume_map.h"

namespace ferry {

class ResyncPlan {
 public:
  // `parent`: the parent's map of the volume (tiles [0, parent size)). `dirty`: sorted, merged
  // byte ranges that may differ from the parent (the CBT's changes plus allocation changes).
  ResyncPlan(std::vector<repo::Extent> parent, cbt::ExtentList dirty);

  // The parent extent (chunk or zeros) that the new chain, having a cut at `pos` in a range
  // ending at `range_end`, takes whole; nullptr if it must re-chunk from `pos`.
  const repo::Extent* Reusable(uint64_t pos, uint64_t range_end) const;

  // The first parent cut after `pos` where a re-chunk started at `pos` can resynchronise
  // (Reusable() there), or `range_end`. Reading [pos, that + lag) usually suffices.
  uint64_t NextSyncPoint(uint64_t pos, uint64_t range_end) const;

  // Whether [begin, end) holds no dirty byte.
  bool Clean(uint64_t begin, uint64_t end) const;

  // What to read for the new allocated ranges `allocated`: for every stretch the chain cannot
  // take from the parent, from its last cut to its expected resynchronisation point, aligned
  // out to `align` within the range. Sorted, merged.
  cbt::ExtentList ReadRanges(const cbt::ExtentList& allocated, uint64_t align) const;

  const std::vector<repo::Extent>& parent() const { return parent_; }

 private:
  // Index of the parent extent that starts exactly at `pos`, or -1.
  long ExtentAt(uint64_t pos) const;

  std::vector<repo::Extent> parent_;
  std::vector<uint64_t> range_end_;  // Per parent extent: the end of its allocated range.
  cbt::ExtentList dirty_;
};

// Byte ranges whose allocation differs between the parent's map (chunks and zeros allocated,
// holes not) and `allocated`, the new volume's allocated ranges: a chunk chain starts or ends
// differently there, so they count as changed. Sorted, merged.
cbt::ExtentList AllocationChanges(const std::vector<repo::Extent>& parent,
                                  const cbt::ExtentList& allocated);

}  // namespace ferry
