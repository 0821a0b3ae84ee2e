#include "formats/qcow2_layout/layout_format.h"

#include <gtest/gtest.h>

namespace ferry::qcow2_layout {
namespace {

repo::ObjectId Id(uint8_t b) {
  repo::ObjectId id;
  id.bytes.fill(b);
  return id;
}

Sidecar Example() {
  Sidecar s;
  s.id = Id(0xab);
  s.time = "2026-11-22T03:04:05.123456Z";
  s.hostname = "host";
  s.tags = {"daily", "db"};
  s.volume = "disk0";
  s.source = "/dev/vdb";
  s.source_format = "qcow2";
  s.size = 10737418240;
  IncrementalInfo inc;
  inc.parent = Id(0x01);
  inc.cbt = "list:/tmp/cbt.txt";
  inc.changed_bytes = 1048576;
  inc.verify_percent = 2.5;
  inc.verified_bytes = 655360;
  inc.mismatches = 3;
  inc.fell_back = true;
  s.incremental = inc;
  s.stats = {4096, 3, 196608, 0.5};
  return s;
}

TEST(LayoutConfig, RoundTripsAndIsRecognised) {
  LayoutConfig c;
  c.id = Id(7);
  c.cluster_bits = 20;
  c.compression = qcow2::Compression::kZstd;
  const std::string text = EncodeConfig(c);
  EXPECT_TRUE(IsLayoutConfig(text));
  auto back = DecodeConfig(text);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->id, c.id);
  EXPECT_EQ(back->cluster_bits, 20u);
  EXPECT_EQ(back->compression, qcow2::Compression::kZstd);

  c.compression.reset();
  back = DecodeConfig(EncodeConfig(c));
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->compression.has_value());
  EXPECT_EQ(back->full_every, 0u);
  EXPECT_EQ(EncodeConfig(c).find("full_every"), std::string::npos) << "written only when set";

  c.full_every = 7;
  back = DecodeConfig(EncodeConfig(c));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->full_every, 7u);
}

TEST(LayoutConfig, RejectsOtherFormatsVersionsAndSizes) {
  EXPECT_FALSE(IsLayoutConfig(R"({"format": "ferry-repository", "version": 1})"));
  EXPECT_FALSE(IsLayoutConfig("not json"));
  auto other = DecodeConfig(R"({"format": "ferry-repository", "version": 1})");
  ASSERT_FALSE(other.has_value());
  EXPECT_TRUE(other.error().IsNotSupported());

  const std::string id(32, 'a');
  auto future = DecodeConfig(R"({"format": "ferry-qcow2-layout", "version": 2, "id": ")" + id +
                             R"(", "cluster_size": 65536, "compression": "none"})");
  ASSERT_FALSE(future.has_value());
  EXPECT_TRUE(future.error().IsNotSupported());
  EXPECT_NE(future.error().message().find("version 2"), std::string::npos);

  auto odd = DecodeConfig(R"({"format": "ferry-qcow2-layout", "version": 1, "id": ")" + id +
                          R"(", "cluster_size": 65537, "compression": "none"})");
  ASSERT_FALSE(odd.has_value());
  EXPECT_TRUE(odd.error().IsCorruption());
  EXPECT_NE(odd.error().message().find("cluster_size"), std::string::npos);

  for (const char* n : {"0", "1001", "-1", "\"3\""}) {
    auto bad = DecodeConfig(R"({"format": "ferry-qcow2-layout", "version": 1, "id": ")" + id +
                            R"(", "cluster_size": 65536, "compression": "none", "full_every": )" +
                            n + "}");
    ASSERT_FALSE(bad.has_value()) << n;
    EXPECT_TRUE(bad.error().IsCorruption()) << n;
  }

  auto missing = DecodeConfig(R"({"format": "ferry-qcow2-layout", "version": 1})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().IsCorruption());
}

TEST(Sidecar, RoundTrips) {
  const Sidecar s = Example();
  const std::string text = EncodeSidecar(s);
  EXPECT_NE(text.find("\"image\": \"" + ImageName(s.id) + "\""), std::string::npos);
  auto back = DecodeSidecar(text, SidecarName(s.id));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_TRUE(*back == s);

  Sidecar unverified = s;
  unverified.incremental->verify_percent = 0;
  unverified.incremental->verified_bytes = 0;
  unverified.incremental->mismatches = 0;
  EXPECT_EQ(EncodeSidecar(unverified).find("verif"), std::string::npos) << "written only when set";
  back = DecodeSidecar(EncodeSidecar(unverified), SidecarName(s.id));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_TRUE(*back == unverified);

  Sidecar full = s;
  full.incremental.reset();
  back = DecodeSidecar(EncodeSidecar(full), SidecarName(full.id));
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->incremental.has_value());
}

TEST(Sidecar, RejectsAMisnamedOrDamagedSidecar) {
  const Sidecar s = Example();
  auto renamed = DecodeSidecar(EncodeSidecar(s), SidecarName(Id(0xcd)));
  ASSERT_FALSE(renamed.has_value());
  EXPECT_NE(renamed.error().message().find("does not match"), std::string::npos);

  std::string text = EncodeSidecar(s);
  text.resize(text.size() / 2);
  auto cut = DecodeSidecar(text, SidecarName(s.id));
  ASSERT_FALSE(cut.has_value());
  EXPECT_TRUE(cut.error().IsCorruption());

  for (const char* percent : {"0", "100.5", "-1", "\"5\""}) {
    std::string t = EncodeSidecar(s);
    const size_t at = t.find("\"verify_percent\": ");
    ASSERT_NE(at, std::string::npos);
    const size_t value = at + std::string("\"verify_percent\": ").size();
    t.replace(value, t.find_first_of(",\n", value) - value, percent);
    auto bad = DecodeSidecar(t, SidecarName(s.id));
    ASSERT_FALSE(bad.has_value()) << percent;
    EXPECT_TRUE(bad.error().IsCorruption()) << percent;
  }

  Sidecar bad_name = s;
  bad_name.volume = "../etc";
  auto escaped = DecodeSidecar(EncodeSidecar(bad_name), SidecarName(s.id));
  ASSERT_FALSE(escaped.has_value());
  EXPECT_NE(escaped.error().message().find("volume name"), std::string::npos);
}

TEST(VolumeName, AcceptsPlainNamesOnly) {
  EXPECT_TRUE(CheckVolumeName("disk0").ok());
  EXPECT_TRUE(CheckVolumeName("vm-1.qcow2").ok());
  for (const char* bad : {"", ".hidden", "..", "a/b", "tab\there"}) {
    EXPECT_TRUE(CheckVolumeName(bad).IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(CheckVolumeName(std::string(201, 'x')).IsInvalidArgument());
}

TEST(FileNames, ParseBackToTheirIds) {
  const repo::ObjectId id = Id(0x5a);
  EXPECT_EQ(IdOfImage(ImageName(id)), id);
  EXPECT_EQ(IdOfSidecar(SidecarName(id)), id);
  EXPECT_FALSE(IdOfImage(SidecarName(id)).has_value());
  EXPECT_FALSE(IdOfImage(ImageName(id) + ".partial").has_value());
  EXPECT_FALSE(IdOfSidecar("zz" + SidecarName(id).substr(2)).has_value());
}

}  // namespace
}  // namespace ferry::qcow2_layout
