// Chunker throughput on one core: bytes scanned per second at the default parameters
// (256 KiB average, min avg/4, max avg*4) and at 16 KiB and 1 MiB averages.
#include <benchmark/benchmark.h>

#include "bench/bench_data.h"
#include "chunker/chunker.h"

namespace ferry::bench {
namespace {

void RunChunker(benchmark::State& state, chunker::Algorithm algo, const std::string& data) {
  chunker::Params p;
  p.algorithm = algo;
  p.avg_size = static_cast<uint32_t>(state.range(0));
  p.min_size = p.avg_size / 4;
  p.max_size = p.avg_size * 4;
  auto c = chunker::MakeChunker(p).value();
  std::vector<uint64_t> cuts;
  cuts.reserve(data.size() / p.min_size + 1);
  for (auto _ : state) {
    cuts.clear();
    c->Update(AsBytes(data), &cuts);
    c->Finish(&cuts);
    benchmark::DoNotOptimize(cuts.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(data.size()));
  state.counters["mean_chunk"] =
      static_cast<double>(data.size()) / static_cast<double>(std::max<size_t>(cuts.size(), 1));
}

void BM_FastCdc2020(benchmark::State& s) {
  RunChunker(s, chunker::Algorithm::kFastCdc2020, s.range(1) ? TextData() : RandomData());
}
void BM_FastCdc2016(benchmark::State& s) {
  RunChunker(s, chunker::Algorithm::kFastCdc2016, s.range(1) ? TextData() : RandomData());
}
void BM_Fixed(benchmark::State& s) { RunChunker(s, chunker::Algorithm::kFixed, RandomData()); }

void Sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"avg", "text"});
  for (int64_t avg : {16 << 10, 256 << 10, 1 << 20}) {
    for (int64_t text : {0, 1}) b->Args({avg, text});
  }
}

BENCHMARK(BM_FastCdc2020)->Apply(Sizes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FastCdc2016)->Apply(Sizes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fixed)->ArgNames({"avg"})->Arg(256 << 10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ferry::bench
