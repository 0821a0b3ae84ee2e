#include "engine/chunk_scan.h"

#include "formats/codec/xxh3.h"

namespace ferry {

Result<ChunkScanSummary> ScanChunks(const std::string& path, const ChunkScanOptions& options,
                                    const std::function<void(const ChunkRecord&)>& on_chunk) {
  FERRY_ASSIGN_OR_RETURN(auto chunker, chunker::MakeChunker(options.params));
  FERRY_ASSIGN_OR_RETURN(auto reader, SequentialReader::Open(path, options.reader));
  ChunkScanSummary summary;
  summary.backend = reader->backend_name();
  summary.fallback_reason = reader->fallback_reason();
  ProgressTicker ticker;
  codec::Xxh3Stream hash;
  std::vector<uint64_t> cuts;
  uint64_t chunk_start = 0;
  uint64_t buf_start = 0;  // Stream offset of the current buffer.
  ByteView buf;
  // The last byte of each buffer is hashed only once the next buffer's cuts are known, since a
  // cut may fall just before it (chunker::kMaxCutLag).
  uint64_t hashed_to = 0;
  std::byte held{};
  bool holding = false;

  auto hash_to = [&](uint64_t to) {
    if (holding && to > hashed_to) {
      hash.Update(ByteView(&held, 1));
      holding = false;
      ++hashed_to;
    }
    if (to > hashed_to) {
      hash.Update(buf.subspan(hashed_to - buf_start, to - hashed_to));
      hashed_to = to;
    }
  };
  auto emit = [&](uint64_t end) {
    hash_to(end);
    on_chunk({chunk_start, end - chunk_start, hash.Digest()});
    ++summary.chunks;
    hash.Reset();
    chunk_start = end;
  };

  for (;;) {
    if (options.cancel != nullptr && options.cancel->cancelled()) {
      return Err(Status::Cancelled("chunk scan of " + path + " was cancelled"));
    }
    FERRY_ASSIGN_OR_RETURN(buf, reader->Next());
    if (buf.empty()) break;
    cuts.clear();
    chunker->Update(buf, &cuts);
    for (uint64_t cut : cuts) emit(cut);
    const uint64_t buf_end = buf_start + buf.size();
    hash_to(buf_end - 1);
    if (hashed_to < buf_end) {  // Unless a cut at buf_end already took the last byte.
      held = buf.back();
      holding = true;
    }
    buf_start = buf_end;
    summary.bytes = buf_end;
    if (options.progress && ticker.Due()) {
      options.progress({buf_end, reader->size(), ticker.seconds(), false});
    }
  }
  cuts.clear();
  chunker->Finish(&cuts);
  for (uint64_t cut : cuts) emit(cut);
  summary.seconds = ticker.seconds();
  if (options.progress) options.progress({summary.bytes, reader->size(), summary.seconds, true});
  return summary;
}

}  // namespace ferry
