// ferry chunk FILE|- : print the chunks a chunker cuts a file into, with a summary.
#include <cstdio>

#include <fmt/format.h>

#include "engine/chunk_scan.h"
#include "tools/ferry/chunker_flags.h"
#include "tools/ferry/commands.h"
#include "tools/ferry/terminal.h"

namespace ferry::cli {

namespace {

struct ChunkArgs {
  std::string source;
  ChunkerFlags chunker;
  bool json = false;
  std::string io_backend = "auto";
};

int RunChunk(const ChunkArgs& args) {
  ChunkScanOptions opts;
  auto params = ChunkerParamsFromFlags(args.chunker, chunker::Params{});
  if (!params) {
    PrintError(params.error().message());
    return kExitUsage;
  }
  opts.params = *params;
  auto backend = io::ParseBackendKind(args.io_backend);
  if (!backend) {
    PrintError(backend.error().message());
    return kExitUsage;
  }
  opts.reader.backend = *backend;
  opts.cancel = &GlobalCancel();
  ProgressLine progress;
  opts.progress = [&](const Progress& p) { progress.Update(p); };

  std::FILE* out = stdout;
  bool first = true;
  if (args.json) std::fputs("{\"chunks\":[", out);
  auto result = ScanChunks(args.source, opts, [&](const ChunkRecord& c) {
    if (args.json) {
      fmt::print(out, "{}{{\"offset\":{},\"length\":{},\"hash\":\"{:016x}\"}}", first ? "" : ",",
                 c.offset, c.length, c.xxh3);
      first = false;
    } else {
      fmt::print(out, "{}\t{}\t{:016x}\n", c.offset, c.length, c.xxh3);
    }
  });
  if (!result) {
    if (args.json) std::fputs("]}\n", out);
    PrintError(result.error().message());
    return result.error().IsCancelled() ? kExitCancelled : kExitFailure;
  }
  const ChunkScanSummary& s = *result;
  const double mean =
      s.chunks > 0 ? static_cast<double>(s.bytes) / static_cast<double>(s.chunks) : 0.0;
  const double rate = s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0.0;
  if (!s.fallback_reason.empty()) PrintError(s.fallback_reason);
  if (args.json) {
    fmt::print(out,
               "],\"summary\":{{\"count\":{},\"bytes\":{},\"mean_size\":{:.1f},\"seconds\":{:.6f},"
               "\"bytes_per_second\":{:.0f},\"algorithm\":\"{}\",\"min_size\":{},\"avg_size\":{},"
               "\"max_size\":{},\"io_backend\":\"{}\"}}}}\n",
               s.chunks, s.bytes, mean, s.seconds, rate,
               chunker::AlgorithmName(opts.params.algorithm), opts.params.min_size,
               opts.params.avg_size, opts.params.max_size, s.backend);
  } else {
    std::fprintf(stderr, "%s\n",
                 fmt::format("ferry: {} chunks, mean {}, {} in {:.2f} s ({}), {} via {}", s.chunks,
                             HumanBytes(mean), HumanBytes(static_cast<double>(s.bytes)), s.seconds,
                             HumanRate(static_cast<double>(s.bytes), s.seconds),
                             chunker::AlgorithmName(opts.params.algorithm), s.backend)
                     .c_str());
  }
  if (std::fflush(out) != 0) {
    PrintError("cannot write the output");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void RegisterChunkCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ChunkArgs>();
  CLI::App* cmd = app.add_subcommand(
      "chunk",
      "Print the chunks of FILE (or - for stdin): offset, length and XXH3-64, one per line");
  cmd->add_option("source", args->source, "File, block device, or - for standard input")
      ->required()
      ->check(kNonEmptyPath);
  AddChunkerFlags(cmd, "--algo", "262144", &args->chunker);
  cmd->add_flag("--json", args->json, "Print one JSON object with a chunks array and a summary");
  cmd->add_option("--io-backend", args->io_backend, "auto (default), uring or psync")
      ->envname("FERRY_IO_BACKEND");
  cmd->callback([args, exit_code] { *exit_code = RunChunk(*args); });
}

}  // namespace ferry::cli
