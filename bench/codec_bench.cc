// Per-chunk primitives on one core: HMAC-SHA-256 ids (one at a time and in batches), XXH3, zstd
// levels 1 and 3 (both directions, on text), AES-256-GCM seal and open. Argument: bytes per call.
// And the passphrase key derivation every command opening a repository pays: ours against
// OpenSSL's, at the default cost.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include "bench/bench_data.h"
#include "chunker/chunker.h"
#include "formats/codec/aes_gcm.h"
#include "formats/codec/chunk_id.h"
#include "formats/codec/scrypt_kdf.h"
#include "formats/codec/xxh3.h"
#include "formats/codec/zstd_codec.h"

namespace ferry::bench {
namespace {

ByteView Slice(const std::string& data, int64_t n) {
  return AsBytes(std::string_view(data).substr(0, static_cast<size_t>(n)));
}

void BM_HmacSha256(benchmark::State& state) {
  auto hasher = codec::ChunkIdHasher::Create(AsBytes(std::string(32, 'k'))).value();
  const ByteView in = Slice(RandomData(), state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(hasher->Hash(in));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The chunks of RandomData() at the default FastCDC parameters (256 KiB average): the lengths
// a restore window hands to HashMany.
std::vector<ByteView> DefaultChunks() {
  chunker::Params p;
  p.algorithm = chunker::Algorithm::kFastCdc2020;
  p.avg_size = 256 << 10;
  p.min_size = p.avg_size / 4;
  p.max_size = p.avg_size * 4;
  auto c = chunker::MakeChunker(p).value();
  std::vector<uint64_t> cuts;
  c->Update(AsBytes(RandomData()), &cuts);
  c->Finish(&cuts);
  std::vector<ByteView> chunks;
  uint64_t begin = 0;
  for (uint64_t end : cuts) {
    chunks.push_back(AsBytes(std::string_view(RandomData()).substr(begin, end - begin)));
    begin = end;
  }
  return chunks;
}

// Ids of default-sized chunks, `batch` at a time (16 is about a 4 MiB restore window), through
// HashMany (paired:1) or one Hash call each (paired:0).
void BM_ChunkIdBatch(benchmark::State& state) {
  auto hasher = codec::ChunkIdHasher::Create(AsBytes(std::string(32, 'k'))).value();
  static const std::vector<ByteView> chunks = DefaultChunks();
  const size_t batch = static_cast<size_t>(state.range(0));
  std::vector<codec::ChunkId> ids(chunks.size());
  int64_t bytes = 0;
  for (auto _ : state) {
    for (size_t first = 0; first + batch <= chunks.size(); first += batch) {
      const std::span<const ByteView> in(chunks.data() + first, batch);
      if (state.range(1) != 0) {
        hasher->HashMany(in, {ids.data() + first, batch});
      } else {
        for (size_t i = 0; i < batch; ++i) ids[first + i] = hasher->Hash(in[i]);
      }
      for (const ByteView& c : in) bytes += static_cast<int64_t>(c.size());
    }
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(bytes);
}

void BM_Xxh3_64(benchmark::State& state) {
  const ByteView in = Slice(RandomData(), state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(codec::Xxh3_64(in));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Xxh3_128(benchmark::State& state) {
  const ByteView in = Slice(RandomData(), state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(codec::Xxh3_128(in));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_ZstdCompress(benchmark::State& state) {
  auto comp = codec::ZstdCompressor::Create(static_cast<int>(state.range(0))).value();
  const ByteView in = Slice(TextData(), state.range(1));
  std::string out(codec::ZstdCompressor::MaxOutputSize(in.size()), '\0');
  MutableByteView dst{reinterpret_cast<std::byte*>(out.data()), out.size()};
  size_t packed = 0;
  for (auto _ : state) {
    packed = comp->Compress(in, dst).value().size;
    benchmark::DoNotOptimize(packed);
  }
  state.SetBytesProcessed(state.iterations() * state.range(1));
  state.counters["ratio"] = static_cast<double>(in.size()) / static_cast<double>(packed);
}

void BM_ZstdDecompress(benchmark::State& state) {
  auto comp = codec::ZstdCompressor::Create(static_cast<int>(state.range(0))).value();
  const ByteView in = Slice(TextData(), state.range(1));
  std::string packed(codec::ZstdCompressor::MaxOutputSize(in.size()), '\0');
  packed.resize(comp->Compress(in, {reinterpret_cast<std::byte*>(packed.data()), packed.size()})
                    .value()
                    .size);
  codec::ZstdDecompressor dec;
  std::string out(in.size(), '\0');
  for (auto _ : state) {
    Status s =
        dec.Decompress(AsBytes(packed), {reinterpret_cast<std::byte*>(out.data()), out.size()});
    benchmark::DoNotOptimize(s.ok());
  }
  state.SetBytesProcessed(state.iterations() * state.range(1));
}

void BM_AesGcmSeal(benchmark::State& state) {
  auto gcm = codec::Aes256Gcm::Create(AsBytes(std::string(32, 'k'))).value();
  const ByteView in = Slice(RandomData(), state.range(0));
  std::string out(codec::Aes256Gcm::SealedSize(in.size()), '\0');
  const std::string aad = "chunk";
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        gcm->Seal(AsBytes(aad), in, {reinterpret_cast<std::byte*>(out.data()), out.size()}));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_AesGcmOpen(benchmark::State& state) {
  auto gcm = codec::Aes256Gcm::Create(AsBytes(std::string(32, 'k'))).value();
  const ByteView in = Slice(RandomData(), state.range(0));
  std::string sealed(codec::Aes256Gcm::SealedSize(in.size()), '\0');
  const std::string aad = "chunk";
  (void)gcm->Seal(AsBytes(aad), in, {reinterpret_cast<std::byte*>(sealed.data()), sealed.size()});
  std::string out(in.size(), '\0');
  for (auto _ : state) {
    benchmark::DoNotOptimize(gcm->Open(AsBytes(aad), AsBytes(sealed),
                                       {reinterpret_cast<std::byte*>(out.data()), out.size()}));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// Argument 0: ours (SSE2 ROMix), 1: OpenSSL's EVP_PBE_scrypt.
void BM_ScryptDefault(benchmark::State& state) {
  const codec::ScryptParams params;  // N 2^15, r 8, p 1: what `ferry init` writes.
  const std::string salt(32, 's');
  std::string key(32, '\0');
  for (auto _ : state) {
    if (state.range(0) == 0) {
      benchmark::DoNotOptimize(codec::DeriveKeyScrypt("passphrase", AsBytes(salt), params, 32));
    } else {
      benchmark::DoNotOptimize(
          EVP_PBE_scrypt("passphrase", 10, reinterpret_cast<const unsigned char*>(salt.data()),
                         salt.size(), params.n, params.r, params.p, uint64_t{1} << 30,
                         reinterpret_cast<unsigned char*>(key.data()), key.size()));
    }
  }
}

BENCHMARK(BM_ScryptDefault)->ArgName("openssl")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HmacSha256)->ArgName("bytes")->Arg(16 << 10)->Arg(256 << 10)->Arg(1 << 20);
BENCHMARK(BM_ChunkIdBatch)
    ->ArgNames({"batch", "paired"})
    ->ArgsProduct({{2, 4, 16, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Xxh3_64)->ArgName("bytes")->Arg(4 << 10)->Arg(256 << 10);
BENCHMARK(BM_Xxh3_128)->ArgName("bytes")->Arg(4 << 10)->Arg(256 << 10);
BENCHMARK(BM_ZstdCompress)
    ->ArgNames({"level", "bytes"})
    ->Args({1, 256 << 10})
    ->Args({3, 256 << 10});
BENCHMARK(BM_ZstdDecompress)
    ->ArgNames({"level", "bytes"})
    ->Args({1, 256 << 10})
    ->Args({3, 256 << 10});
BENCHMARK(BM_AesGcmSeal)->ArgName("bytes")->Arg(16 << 10)->Arg(256 << 10)->Arg(1 << 20);
BENCHMARK(BM_AesGcmOpen)->ArgName("bytes")->Arg(16 << 10)->Arg(256 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace ferry::bench
