#include "cbt/changed_list.h"

#include <fstream>

#include <gtest/gtest.h>

#include "cbt/cbt_spec.h"

namespace ferry::cbt {
namespace {

TEST(ChangeListTest, ParsesBothSeparatorsHexCommentsAndMerges) {
  auto r = ParseChangeList(
      "# changed since the last backup\n"
      "8192 4096\n"
      "0,4096\r\n"
      "\n"
      "  0x3000\t0x1000  \n"
      "1048576,512\n",
      "list");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  // 0+4096 stays alone; 8192+4096 and 12288+4096 merge; sorted.
  EXPECT_EQ(r->ranges, (ExtentList{{0, 4096}, {8192, 8192}, {1048576, 512}}));
  EXPECT_FALSE(r->volume_size.has_value());
}

TEST(ChangeListTest, RejectsMalformedLinesNamingThem) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"0 4096\n12\n", "list line 2: expected \"OFFSET LENGTH\" or \"OFFSET,LENGTH\", got \"12\""},
      {"-5 10\n", "list line 1: \"-5 10\" is not two non-negative integers"},
      {"4096 abc\n", "list line 1: \"4096 abc\" is not two non-negative integers"},
      {"4096 0\n", "list line 1: a range of length 0"},
      {"18446744073709551615 2\n", "list line 1: offset + length overflows 64 bits"},
      {"1 2 3\n", "list line 1: \"1 2 3\" is not two non-negative integers"},
  };
  for (const Case& c : cases) {
    auto r = ParseChangeList(c.text, "list");
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error().message(), c.message);
  }
}

TEST(CsiDeltaTest, ParsesProtoAndCamelCaseNamesAcrossAStreamOfResponses) {
  const char* stream = R"(
    {"block_metadata_type": "FIXED_LENGTH", "volume_capacity_bytes": 1073741824,
     "block_metadata": [{"byte_offset": 0, "size_bytes": 65536},
                        {"byte_offset": 65536, "size_bytes": 65536}]}
    {"blockMetadataType": "FIXED_LENGTH", "volumeCapacityBytes": "1073741824",
     "blockMetadata": [{"byteOffset": "1048576", "sizeBytes": "65536"}]}
  )";
  auto r = ParseCsiDelta(stream, "delta.json");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->ranges, (ExtentList{{0, 131072}, {1048576, 65536}}));
  EXPECT_EQ(r->volume_size, 1073741824u);

  auto array = ParseCsiDelta(
      R"([{"block_metadata_type": "VARIABLE_LENGTH", "volume_capacity_bytes": 100,
           "block_metadata": [{"byte_offset": 10, "size_bytes": 5}, {"byte_offset": 50, "size_bytes": 7}]},
          {"block_metadata_type": 2, "volume_capacity_bytes": 100}])",
      "delta.json");
  ASSERT_TRUE(array.has_value()) << array.error().ToString();
  EXPECT_EQ(array->ranges, (ExtentList{{10, 5}, {50, 7}}));
}

TEST(CsiDeltaTest, RejectsWhatTheSpecForbids) {
  struct Case {
    const char* json;
    const char* message_part;
  } cases[] = {
      {"{", "not valid JSON"},
      {"", "no GetMetadataDelta response in it"},
      {"[1]", "response 1: expected a JSON object"},
      {R"({"block_metadata": [{"byte_offset": 0}]})", "block 1: needs byte_offset and size_bytes"},
      {R"({"block_metadata": [{"byte_offset": -4096, "size_bytes": 4096}]})", "negative value"},
      {R"({"block_metadata": [{"byte_offset": 8192, "size_bytes": 4096},
                              {"byte_offset": 4096, "size_bytes": 4096}]})",
       "offset 4096 is not after the previous block's end 12288"},
      {R"({"block_metadata_type": "FIXED_LENGTH",
           "block_metadata": [{"byte_offset": 0, "size_bytes": 4096},
                              {"byte_offset": 4096, "size_bytes": 8192}]})",
       "FIXED_LENGTH blocks of 4096 and 8192 bytes"},
      {R"({"block_metadata_type": "SOMETIMES"})", "unknown block_metadata_type"},
      {R"({"volume_capacity_bytes": 10} {"volume_capacity_bytes": 20})",
       "volume_capacity_bytes 20 differs from the earlier 10"},
      {R"({"block_metadata": [{"byte_offset": "12x", "size_bytes": 1}]})",
       "expected a non-negative integer"},
  };
  for (const Case& c : cases) {
    auto r = ParseCsiDelta(c.json, "delta.json");
    ASSERT_FALSE(r.has_value()) << c.json;
    EXPECT_NE(r.error().message().find(c.message_part), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().rfind("delta.json", 0), 0u) << r.error().message();
  }
}

TEST(ChangedBlocksTest, ValidationCatchesAnotherVolumeAndRangesPastTheEnd) {
  ChangedBlocks c;
  c.ranges = {{0, 4096}, {1 << 20, 4096}};
  EXPECT_TRUE(ValidateForVolume(c, 2 << 20, "cbt").ok());
  Status past = ValidateForVolume(c, 1 << 20, "cbt");
  EXPECT_EQ(past.message(),
            "cbt: changed range 1048576+4096 reaches past the volume's end (1048576 bytes)");
  c.volume_size = 4 << 20;
  Status other = ValidateForVolume(c, 2 << 20, "cbt");
  EXPECT_NE(other.message().find("belongs to another volume"), std::string::npos);
  EXPECT_EQ(TotalBytes(c.ranges), 8192u);
}

TEST(CbtSpecTest, ParsesEveryKindAndRejectsOthersNamingTheForms) {
  EXPECT_EQ(ParseCbtSpec("list:/tmp/a b").value().argument, "/tmp/a b");
  EXPECT_EQ(ParseCbtSpec("csi:x.json").value().kind, CbtKind::kCsi);
  EXPECT_EQ(ParseCbtSpec("qcow2-bitmap:b0").value().kind, CbtKind::kQcow2Bitmap);
  EXPECT_EQ(ParseCbtSpec("hash").value().ToString(), "hash");
  EXPECT_EQ(ParseCbtSpec("fiemap:/a:b").value().ToString(), "fiemap:/a:b");
  EXPECT_NE(ParseCbtSpec("list:").error().message().find("needs an argument"), std::string::npos);
  EXPECT_NE(ParseCbtSpec("bitmap:x").error().message().find("expected list:FILE"),
            std::string::npos);
}

TEST(CbtSpecTest, LoadsFilesAndNamesMissingOnes) {
  const std::string path = ::testing::TempDir() + "/cbt-list.txt";
  { std::ofstream(path) << "0 10\n"; }
  auto r = LoadChangedBlocks(ParseCbtSpec("list:" + path).value(), "src");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->ranges, (ExtentList{{0, 10}}));
  auto missing = LoadChangedBlocks(ParseCbtSpec("csi:/nonexistent/delta.json").value(), "src");
  ASSERT_FALSE(missing.has_value());
  EXPECT_TRUE(missing.error().IsNotFound());
  EXPECT_NE(missing.error().message().find("/nonexistent/delta.json"), std::string::npos);
  auto not_nbd = LoadChangedBlocks(ParseCbtSpec("nbd-bitmap:b").value(), "src");
  ASSERT_FALSE(not_nbd.has_value());
  EXPECT_TRUE(not_nbd.error().IsInvalidArgument());
  EXPECT_NE(not_nbd.error().message().find("needs an NBD source"), std::string::npos);
  auto not_qcow2 = LoadChangedBlocks(ParseCbtSpec("qcow2-bitmap:b").value(), path);
  ASSERT_FALSE(not_qcow2.has_value());
  EXPECT_NE(not_qcow2.error().message().find("needs a QCOW2 source"), std::string::npos);
  auto hash = LoadChangedBlocks(ParseCbtSpec("hash").value(), "src");
  EXPECT_EQ(hash.error().code(), Status::Code::kNotSupported);
}

}  // namespace
}  // namespace ferry::cbt
