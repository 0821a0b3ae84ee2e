// AES-256-GCM against the GCM specification's test cases 13–16 (McGrew & Viega, as used by NIST's
// validation), and the tamper-evidence properties the repository relies on.
#include "formats/codec/aes_gcm.h"

#include "formats/codec/codec_test_util.h"
#include "tests/testutil/testutil.h"

namespace ferry::codec {
namespace {

struct GcmCase {
  const char* name;
  const char* key;
  const char* iv;
  const char* aad;
  const char* plaintext;
  const char* ciphertext;
  const char* tag;
};

constexpr const char* kKey15 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr const char* kPlain15 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6"
    "b525b16aedf5aa0de657ba637b391aafd255";
constexpr const char* kCipher15 =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b105682"
    "8838c5f61e6393ba7a0abcc9f662898015ad";

const GcmCase kCases[] = {
    {"case13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case15", kKey15, "cafebabefacedbaddecaf888", "", kPlain15, kCipher15,
     "b094dac5d93471bdec1a502270e3cc6c"},
};

TEST(Aes256GcmTest, MatchesGcmSpecVectors) {
  std::vector<GcmCase> cases(std::begin(kCases), std::end(kCases));
  // Case 16: case 15's key and nonce with associated data and a 60-byte plaintext.
  const std::string p16 = std::string(kPlain15).substr(0, 120);
  const std::string c16 = std::string(kCipher15).substr(0, 120);
  cases.push_back({"case16", kKey15, "cafebabefacedbaddecaf888",
                   "feedfacedeadbeeffeedfacedeadbeefabaddad2", p16.c_str(), c16.c_str(),
                   "76fc6ece0f4e1768cddf8853bb2d551b"});
  for (const GcmCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string key = Unhex(c.key);
    const std::string iv = Unhex(c.iv);
    const std::string aad = Unhex(c.aad);
    const std::string plain = Unhex(c.plaintext);
    auto gcm = Aes256Gcm::Create(AsBytes(key)).value();
    std::string sealed(Aes256Gcm::SealedSize(plain.size()), '\0');
    ASSERT_EQ(gcm->SealWithNonce(AsBytes(iv), AsBytes(aad), AsBytes(plain), Mut(sealed)).value(),
              sealed.size());
    EXPECT_EQ(ToHex(AsBytes(sealed)), std::string(c.iv) + c.ciphertext + c.tag);
    std::string opened(plain.size(), '\0');
    ASSERT_EQ(gcm->Open(AsBytes(aad), AsBytes(sealed), Mut(opened)).value(), plain.size());
    EXPECT_EQ(opened, plain);
  }
}

TEST(Aes256GcmTest, FlippingAnySingleBitMakesOpeningFail) {
  const std::string key(32, '\x42');
  auto gcm = Aes256Gcm::Create(AsBytes(key)).value();
  const std::string plain = testing::RandomBytes(100, 1);
  const std::string aad = "chunk:0123456789abcdef";
  std::string sealed(Aes256Gcm::SealedSize(plain.size()), '\0');
  ASSERT_TRUE(gcm->Seal(AsBytes(aad), AsBytes(plain), Mut(sealed)).has_value());
  std::string out(plain.size(), '\0');
  ASSERT_TRUE(gcm->Open(AsBytes(aad), AsBytes(sealed), Mut(out)).has_value());
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    auto r = gcm->Open(AsBytes(aad), AsBytes(bad), Mut(out));
    ASSERT_FALSE(r.has_value()) << "bit " << bit;
    EXPECT_TRUE(r.error().IsCorruption());
    EXPECT_EQ(r.error().message(),
              "authentication failed: the blob is damaged, was moved, or the key is wrong");
  }
  // The blob still opens after all those failures: the context recovers.
  EXPECT_TRUE(gcm->Open(AsBytes(aad), AsBytes(sealed), Mut(out)).has_value());
  EXPECT_EQ(out, plain);
}

TEST(Aes256GcmTest, WrongAssociatedDataOrKeyFails) {
  auto gcm = Aes256Gcm::Create(AsBytes(std::string(32, 'a'))).value();
  auto other = Aes256Gcm::Create(AsBytes(std::string(32, 'b'))).value();
  const std::string plain = "snapshot body";
  std::string sealed(Aes256Gcm::SealedSize(plain.size()), '\0');
  ASSERT_TRUE(gcm->Seal(AsBytes("type=snapshot id=1"), AsBytes(plain), Mut(sealed)));
  std::string out(plain.size(), '\0');
  EXPECT_TRUE(
      gcm->Open(AsBytes("type=snapshot id=2"), AsBytes(sealed), Mut(out)).error().IsCorruption());
  EXPECT_TRUE(
      other->Open(AsBytes("type=snapshot id=1"), AsBytes(sealed), Mut(out)).error().IsCorruption());
  EXPECT_EQ(gcm->Open(AsBytes(""), AsBytes("short"), Mut(out)).error().message(),
            "sealed blob is shorter than its nonce and tag");
}

TEST(Aes256GcmTest, NoncesAreFreshPerSeal) {
  auto gcm = Aes256Gcm::Create(AsBytes(std::string(32, 'n'))).value();
  const std::string plain(64, 'x');
  std::string a(Aes256Gcm::SealedSize(plain.size()), '\0');
  std::string b = a;
  ASSERT_TRUE(gcm->Seal({}, AsBytes(plain), Mut(a)));
  ASSERT_TRUE(gcm->Seal({}, AsBytes(plain), Mut(b)));
  EXPECT_NE(a.substr(0, kGcmNonceSize), b.substr(0, kGcmNonceSize));
  EXPECT_NE(a, b);
}

TEST(Aes256GcmTest, RejectsWrongKeySize) {
  EXPECT_TRUE(Aes256Gcm::Create(AsBytes("short")).error().IsInvalidArgument());
}

}  // namespace
}  // namespace ferry::codec
