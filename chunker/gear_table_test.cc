// Recomputes the gear table from its definition with OpenSSL's MD5, and checks it against the
// published table copied into tests/data/fastcdc/gear64.txt.
#include "chunker/gear_table.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "tests/testutil/testutil.h"

namespace ferry::chunker {
namespace {

TEST(GearTableTest, EveryEntryIsBigEndianPrefixOfMd5) {
  for (unsigned i = 0; i < 256; ++i) {
    unsigned char input[64];
    std::fill(std::begin(input), std::end(input), static_cast<unsigned char>(i));
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(input, sizeof(input), digest, &len, EVP_md5(), nullptr), 1);
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | digest[k];
    EXPECT_EQ(kGear[i], v) << "index " << i;
  }
}

TEST(GearTableTest, MatchesPublishedTable) {
  std::ifstream in(testing::DataPath("fastcdc/gear64.txt"));
  ASSERT_TRUE(in) << "missing gear64.txt";
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    unsigned index = 0;
    std::string gear, gear_ls;
    ss >> index >> gear >> gear_ls;
    EXPECT_EQ(kGear.at(index), std::stoull(gear, nullptr, 16));
    EXPECT_EQ(kGear.at(index) << 1, std::stoull(gear_ls, nullptr, 16));
    ++rows;
  }
  EXPECT_EQ(rows, 256);
}

}  // namespace
}  // namespace ferry::chunker
