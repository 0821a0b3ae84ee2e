// Round trips and rejection of damaged input for every object of the repository format.
#include <gtest/gtest.h>

#include "formats/repo/block_hashes.h"
#include "formats/repo/index_file.h"
#include "formats/repo/key_file.h"
#include "formats/repo/pack.h"
#include "formats/repo/repo_config.h"
#include "formats/repo/snapshot.h"
#include "formats/repo/volume_map.h"
#include "tests/testutil/testutil.h"

namespace ferry::repo {
namespace {

codec::ChunkId IdOf(char c) {
  codec::ChunkId id;
  id.bytes.fill(static_cast<uint8_t>(c));
  return id;
}

std::unique_ptr<Sealer> EncryptedSealer() {
  return Sealer::Create(AsBytes(std::string(32, 'k'))).value();
}

TEST(ObjectIdTest, TheIdOfAnObjectsNameIsItsLastComponent) {
  const ObjectId id = NewObjectId().value();
  EXPECT_EQ(ObjectIdOfName(PackName(id)).value(), id);
  EXPECT_EQ(ObjectIdOfName("index/" + id.ToHex()).value(), id);
  EXPECT_EQ(ObjectIdOfName(id.ToHex()).value(), id);
  auto bad = ObjectIdOfName("data/ab/.tmp-123");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("'.tmp-123'"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(ObjectIdOfName("data/" + id.ToHex() + "/").has_value());
}

TEST(RepoConfigTest, RoundTripsAndRejectsForeignOrNewer) {
  RepoConfig c;
  c.id = NewObjectId().value();
  c.compression_level = 5;
  const std::string bytes = EncodeConfig(c);
  const RepoConfig back = DecodeConfig(bytes).value();
  EXPECT_EQ(back.id, c.id);
  EXPECT_EQ(back.compression_level, 5);
  EXPECT_EQ(back.chunker.avg_size, c.chunker.avg_size);
  EXPECT_TRUE(back.encrypted);
  EXPECT_EQ(DecodeConfig("{\"format\":\"restic\"}").error().message(),
            "not a ferry repository (config has no ferry format tag)");
  EXPECT_EQ(DecodeConfig("{\"format\":\"ferry-repository\",\"version\":2}").error().message(),
            "repository format version 2 is not supported (this ferry reads version 1)");
  EXPECT_TRUE(DecodeConfig("garbage").error().IsCorruption());
  // A format tag of the wrong type is not a ferry repository either (the fuzzer found a throw).
  EXPECT_TRUE(DecodeConfig("{\"format\": 3}").error().IsNotSupported());
  // A damaged field is named in plain words, without the JSON library's tag.
  std::string damaged = EncodeConfig(c);
  damaged.replace(damaged.find("\"chunker\""), 9, "\"chunkex\"");
  EXPECT_EQ(DecodeConfig(damaged).error().message(), "config: key 'chunker' not found");
}

TEST(RepoConfigTest, TheIncrementalLevelIsOptionalAndChecked) {
  RepoConfig c;
  c.id = NewObjectId().value();
  c.compression_level = 5;
  // Configs written before the field existed: incrementals at the main level.
  EXPECT_EQ(EncodeConfig(c).find("incremental_compression_level"), std::string::npos);
  EXPECT_EQ(DecodeConfig(EncodeConfig(c)).value().IncrementalCompressionLevel(), 5);
  c.incremental_compression_level = 1;
  const RepoConfig back = DecodeConfig(EncodeConfig(c)).value();
  EXPECT_EQ(back.incremental_compression_level, 1);
  EXPECT_EQ(back.IncrementalCompressionLevel(), 1);
  EXPECT_EQ(back.compression_level, 5);

  std::string text = EncodeConfig(c);
  const std::string field = "\"incremental_compression_level\": 1";
  ASSERT_NE(text.find(field), std::string::npos) << text;
  const std::string too_high = std::string(text).replace(text.find(field), field.size(),
                                                         "\"incremental_compression_level\": 20");
  EXPECT_EQ(DecodeConfig(too_high).error().message(),
            "config: incremental_compression_level 20 is out of range");
  const std::string negative = std::string(text).replace(text.find(field), field.size(),
                                                         "\"incremental_compression_level\": -1");
  EXPECT_TRUE(DecodeConfig(negative).error().IsCorruption());

  const std::string main_field = "\"compression_level\": 5";
  ASSERT_NE(text.find(main_field), std::string::npos) << text;
  const std::string main_too_high = std::string(text).replace(
      text.find(main_field), main_field.size(), "\"compression_level\": 23");
  const auto refused = DecodeConfig(main_too_high);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message(), "config: compression_level 23 is out of range");
}

TEST(RepoConfigTest, ObjectLockIsOptionalAndChecked) {
  RepoConfig c;
  c.id = NewObjectId().value();
  EXPECT_EQ(EncodeConfig(c).find("object_lock"), std::string::npos);  // Absent when off.
  EXPECT_FALSE(DecodeConfig(EncodeConfig(c)).value().object_lock.enabled());
  c.object_lock = {.days = 30, .governance = true};
  const RepoConfig back = DecodeConfig(EncodeConfig(c)).value();
  EXPECT_EQ(back.object_lock.days, 30u);
  EXPECT_TRUE(back.object_lock.governance);
  c.object_lock.governance = false;
  EXPECT_FALSE(DecodeConfig(EncodeConfig(c)).value().object_lock.governance);

  std::string text = EncodeConfig(c);
  const std::string zero = std::string(text).replace(text.find("\"days\": 30"), 11, "\"days\": 0");
  EXPECT_TRUE(DecodeConfig(zero).error().IsCorruption());
  const size_t mode = text.find("compliance");
  const std::string odd = text.replace(mode, 10, "relaxed");
  auto r = DecodeConfig(odd);
  EXPECT_TRUE(r.error().IsNotSupported()) << r.error().ToString();
  EXPECT_NE(r.error().message().find("relaxed"), std::string::npos);
}

TEST(KeyFileTest, OpensWithThePassphraseOnly) {
  const MasterKey master = NewMasterKey().value();
  const std::string config = "config bytes";
  const codec::ScryptParams cheap{1024, 8, 1};
  const std::string file = EncodeKeyFile(master, config, true, "correct horse", cheap).value();
  EXPECT_EQ(DecodeKeyFile(file, config, "correct horse").value().bytes, master.bytes);
  auto wrong = DecodeKeyFile(file, config, "battery staple");
  EXPECT_EQ(wrong.error().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(wrong.error().message(), "wrong passphrase");
  auto changed = DecodeKeyFile(file, "other config", "correct horse");
  EXPECT_TRUE(changed.error().IsCorruption());
}

TEST(KeyFileTest, UnencryptedStoresTheKeyPlain) {
  const MasterKey master = NewMasterKey().value();
  const std::string file = EncodeKeyFile(master, "c", false, "", {}).value();
  EXPECT_EQ(DecodeKeyFile(file, "c", "").value().bytes, master.bytes);
}

TEST(KeyFileTest, TheLabelIsReadWithoutThePassphraseAndMayBeAbsent) {
  const MasterKey master = NewMasterKey().value();
  const codec::ScryptParams cheap{1024, 8, 1};
  const KeyLabel label{"2026-11-25T01:02:03.000000Z", "host-a", "alice"};
  const std::string file = EncodeKeyFile(master, "c", true, "pw", cheap, label).value();
  const KeyLabel back = DecodeKeyLabel(file).value();
  EXPECT_EQ(back.created, label.created);
  EXPECT_EQ(back.hostname, label.hostname);
  EXPECT_EQ(back.username, label.username);
  EXPECT_EQ(DecodeKeyFile(file, "c", "pw").value().bytes, master.bytes);
  // Key files written before labels: the fields are absent, and so empty.
  const KeyLabel none =
      DecodeKeyLabel(EncodeKeyFile(master, "c", true, "pw", cheap).value()).value();
  EXPECT_TRUE(none.created.empty() && none.hostname.empty() && none.username.empty());
  EXPECT_TRUE(DecodeKeyLabel("[1]").error().IsCorruption());
  EXPECT_TRUE(DecodeKeyLabel(R"({"created": 5, "kdf": "none"})").value().created.empty());
}

// Found by the repo_objects fuzz target: a "kdf" that is not a string threw (nlohmann's value()
// converts, and throws when it cannot).
TEST(KeyFileTest, AMalformedKdfIsCorruptionAndNoCrash) {
  for (const char* file : {R"({"kdf": 666})", R"({"kdf": ["scrypt"]})", R"({"kdf": null})",
                           R"([1, 2])", "not json", R"({"kdf": "scrypt")"}) {
    auto decoded = DecodeKeyFile(file, "c", "p");
    ASSERT_FALSE(decoded.has_value()) << file;
    EXPECT_EQ(decoded.error().code(), Status::Code::kCorruption) << file;
  }
}

TEST(SealerTest, BothModesDetectDamageAndMisplacement) {
  for (bool encrypted : {true, false}) {
    auto sealer = Sealer::Create(encrypted ? AsBytes(std::string(32, 'k')) : ByteView{}).value();
    std::string sealed;
    ASSERT_TRUE(
        sealer->Seal(AsBytes(ChunkAad(IdOf('a').view())), AsBytes("payload"), &sealed).ok());
    std::string out;
    ASSERT_TRUE(sealer->Open(AsBytes(ChunkAad(IdOf('a').view())), AsBytes(sealed), &out, "x").ok());
    EXPECT_EQ(out, "payload");
    EXPECT_TRUE(sealer->Open(AsBytes(ChunkAad(IdOf('b').view())), AsBytes(sealed), &out, "x")
                    .IsCorruption());
    sealed[3] ^= 1;
    Status s = sealer->Open(AsBytes(ChunkAad(IdOf('a').view())), AsBytes(sealed), &out, "chunk 61");
    EXPECT_TRUE(s.IsCorruption());
    EXPECT_EQ(s.message().rfind("chunk 61: ", 0), 0u) << s.message();
  }
}

TEST(SealerTest, PiecesSealAsTheirConcatenation) {
  const std::string a = "\x01", b = testing::RandomBytes(5000, 3);
  const std::string whole = a + b;
  const std::string aad = ChunkAad(IdOf('z').view());
  const ByteView pieces[] = {AsBytes(a), ByteView{}, AsBytes(b)};
  // Unencrypted sealing is deterministic: byte-identical to sealing the concatenation.
  auto plain = Sealer::Create({}).value();
  std::string one, two;
  ASSERT_TRUE(plain->Seal(AsBytes(aad), AsBytes(whole), &one).ok());
  ASSERT_TRUE(plain->SealPieces(AsBytes(aad), pieces, &two).ok());
  EXPECT_EQ(one, two);
  // Encrypted: the pieces open as the concatenation, and damage is still caught.
  auto enc = EncryptedSealer();
  std::string sealed, out;
  ASSERT_TRUE(enc->SealPieces(AsBytes(aad), pieces, &sealed).ok());
  EXPECT_EQ(sealed.size(), whole.size() + enc->overhead());
  ASSERT_TRUE(enc->Open(AsBytes(aad), AsBytes(sealed), &out, "x").ok());
  EXPECT_EQ(out, whole);
  sealed[20] ^= 1;
  EXPECT_TRUE(enc->Open(AsBytes(aad), AsBytes(sealed), &out, "x").IsCorruption());
}

TEST(SealerTest, SealsIntoABufferReusedFromTheLastBlob) {
  const std::string first = testing::RandomBytes(9000, 4), second = testing::RandomBytes(700, 5);
  const std::string aad = ChunkAad(IdOf('y').view());
  for (bool encrypted : {false, true}) {
    SCOPED_TRACE(encrypted);
    auto sealer = encrypted ? EncryptedSealer() : Sealer::Create({}).value();
    std::string room(first.size() + sealer->overhead(), '\0');
    auto view = [&] {
      return MutableByteView{reinterpret_cast<std::byte*>(room.data()), room.size()};
    };
    const ByteView a[] = {AsBytes(first)};
    ASSERT_TRUE(sealer->SealPiecesInto(AsBytes(aad), a, view()).has_value());
    // The second, smaller blob lands over the first one's bytes: only its own size counts.
    const std::string_view whole(second);
    const ByteView b[] = {AsBytes(whole.substr(0, 1)), AsBytes(whole.substr(1))};
    auto n = sealer->SealPiecesInto(AsBytes(aad), b, view());
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, second.size() + sealer->overhead());
    std::string out;
    ASSERT_TRUE(
        sealer->Open(AsBytes(aad), AsBytes(std::string_view(room).substr(0, *n)), &out, "x").ok());
    EXPECT_TRUE(out == second);
    // Too little room is an error, not an overrun.
    const std::string too_big = first + "!";
    const ByteView big[] = {AsBytes(too_big)};
    auto full = sealer->SealPiecesInto(AsBytes(aad), big, view());
    ASSERT_FALSE(full.has_value());
    EXPECT_TRUE(full.error().IsInvalidArgument()) << full.error().ToString();
  }
}

TEST(PackTest, BuildsAndParsesAndRejectsDamage) {
  auto sealer = EncryptedSealer();
  const ObjectId pack_id = NewObjectId().value();
  PackBuilder b(pack_id);
  std::string pack;  // The caller writes the blobs; the builder lays them out.
  for (char c : {'a', 'b', 'c'}) {
    std::string blob;
    ASSERT_TRUE(
        sealer->Seal(AsBytes(ChunkAad(IdOf(c).view())), AsBytes(std::string(100, c)), &blob).ok());
    EXPECT_EQ(b.size(), pack.size());
    b.Add(BlobType::kData, IdOf(c), static_cast<uint32_t>(blob.size()), 100);
    pack += blob;
  }
  pack += b.Finish(*sealer).value();
  const std::string name = PackName(pack_id);
  auto header_size = ParsePackTrailer(std::string_view(pack).substr(pack.size() - kPackTrailerSize),
                                      pack.size(), name);
  ASSERT_TRUE(header_size.has_value());
  const size_t area = pack.size() - kPackTrailerSize - *header_size;
  auto entries = ParsePackHeader(*sealer, pack_id,
                                 std::string_view(pack).substr(area, *header_size), area, name);
  ASSERT_TRUE(entries.has_value()) << entries.error().ToString();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[1].id, IdOf('b'));
  EXPECT_EQ((*entries)[1].offset, (*entries)[0].stored_size);

  // Truncation loses the magic.
  const std::string cut = pack.substr(0, pack.size() - 5);
  auto t = ParsePackTrailer(std::string_view(cut).substr(cut.size() - kPackTrailerSize), cut.size(),
                            name);
  EXPECT_EQ(t.error().message(), name + ": bad magic (truncated or not a pack)");
  // A flipped bit in the header fails authentication, naming the pack.
  std::string bad = pack;
  bad[area + 20] ^= 0x10;
  auto h = ParsePackHeader(*sealer, pack_id, std::string_view(bad).substr(area, *header_size), area,
                           name);
  ASSERT_FALSE(h.has_value());
  EXPECT_NE(h.error().message().find(name + " header"), std::string::npos);
  // The same header claimed by another pack id fails too.
  EXPECT_FALSE(ParsePackHeader(*sealer, NewObjectId().value(),
                               std::string_view(pack).substr(area, *header_size), area, name)
                   .has_value());
}

TEST(IndexFileTest, RoundTripsAndBindsToItsId) {
  auto sealer = EncryptedSealer();
  const ObjectId index_id = NewObjectId().value();
  std::vector<IndexEntry> entries = {
      {IdOf('x'), NewObjectId().value(), BlobType::kMapPage, 7, 8, 9}};
  const std::string sealed = EncodeIndex(*sealer, index_id, entries).value();
  auto back = DecodeIndex(*sealer, index_id, sealed, "index/i").value();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].id, IdOf('x'));
  EXPECT_EQ(back[0].pack, entries[0].pack);
  EXPECT_EQ(back[0].type, BlobType::kMapPage);
  EXPECT_EQ(back[0].raw_size, 9u);
  EXPECT_TRUE(
      DecodeIndex(*sealer, NewObjectId().value(), sealed, "index/j").error().IsCorruption());
}

TEST(VolumeMapTest, RoundTripsAndRejectsLies) {
  std::vector<Extent> extents = {{0, 4096, ExtentKind::kChunk, IdOf('q')},
                                 {4096, 8192, ExtentKind::kZeros, {}},
                                 {12288, 100, ExtentKind::kHole, {}}};
  const std::string page = EncodeMapPage(extents);
  EXPECT_EQ(DecodeMapPage(page, "p").value(), extents);
  EXPECT_TRUE(CheckTiling(extents, 12388, "v").ok());
  EXPECT_EQ(CheckTiling(extents, 20000, "v").message(),
            "v: extents end at 12388, volume size is 20000");
  std::string lie = page;
  lie[4] = '\x7f';  // Claims far more extents than the bytes hold.
  EXPECT_EQ(DecodeMapPage(lie, "p").error().message(), "p: malformed map page header");
  EXPECT_TRUE(DecodeMapPage(page.substr(0, page.size() - 1), "p").error().IsCorruption());
}

TEST(SnapshotTest, RoundTripsAndChecksItsName) {
  auto sealer = EncryptedSealer();
  Snapshot s;
  s.id = NewObjectId().value();
  s.time = "2026-11-22T03:04:05Z";
  s.hostname = "host";
  s.tags = {"daily"};
  s.volumes.push_back(
      {"disk0", "/dev/vdb", "raw", 123, kDefaultPageSize, {{0, IdOf('p')}}, {}, 0, {}});
  s.volumes.push_back(s.volumes[0]);
  s.volumes[1].source_format = "qcow2";
  s.volumes[1].hash_block_size = 65536;
  s.volumes[1].hash_pages = {IdOf('h'), IdOf('i')};
  s.volumes[1].incremental =
      IncrementalInfo{NewObjectId().value(), "disk0", "list:x", 4096, 1.5, 8192, 1, true};
  s.stats.bytes_read = 123;
  const std::string sealed = EncodeSnapshot(*sealer, s).value();
  const Snapshot back = DecodeSnapshot(*sealer, s.id, sealed, "snapshots/x").value();
  EXPECT_EQ(back.hostname, "host");
  EXPECT_EQ(back.volumes.at(0).pages.at(0).id, IdOf('p'));
  EXPECT_FALSE(back.volumes.at(0).incremental.has_value());
  EXPECT_EQ(back.volumes.at(1).incremental, s.volumes[1].incremental);
  EXPECT_EQ(back.volumes.at(0).source_format, "raw");
  EXPECT_EQ(back.volumes.at(1).source_format, "qcow2");
  EXPECT_TRUE(back.volumes.at(0).hash_pages.empty());
  EXPECT_EQ(back.volumes.at(1).hash_block_size, 65536u);
  EXPECT_EQ(back.volumes.at(1).hash_pages, s.volumes[1].hash_pages);
  EXPECT_FALSE(back.parent.has_value());
  EXPECT_TRUE(DecodeSnapshot(*sealer, NewObjectId().value(), sealed, "y").error().IsCorruption());
}

TEST(BlockHashPageTest, RoundTripsAndRejectsDamage) {
  const std::vector<uint64_t> hashes = {1, 0xffffffffffffffffu, 42};
  const std::string page = EncodeBlockHashPage(65536, 7, hashes);
  auto back = DecodeBlockHashPage(page, "p");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->block_size, 65536u);
  EXPECT_EQ(back->first_block, 7u);
  EXPECT_EQ(back->hashes, hashes);
  EXPECT_TRUE(DecodeBlockHashPage(page.substr(0, page.size() - 1), "p").error().IsCorruption());
  std::string lying = page;
  lying[16] = 9;  // n = 9, but three hashes follow.
  EXPECT_TRUE(DecodeBlockHashPage(lying, "p").error().IsCorruption());
}

}  // namespace
}  // namespace ferry::repo
