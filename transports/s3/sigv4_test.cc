// SigV4 against the published vectors (tests/data/sigv4/README.md): every case of the AWS
// SigV4 test suite and the worked S3 examples must give the same canonical request, string to
// sign and signature, byte for byte.
#include "transports/s3/sigv4.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/bytes.h"

#include "tests/testutil/testutil.h"

namespace ferry::s3 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::DataPath;
using testing::ReadFileOrDie;

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Parses a vector's request.txt: "METHOD PATH[?QUERY] HTTP/1.1", headers (continuation lines
// start with a space), an empty line, the body.
RequestToSign ParseRequest(const std::string& text, std::string* body) {
  RequestToSign r;
  size_t eol = text.find('\n');
  const std::string first = text.substr(0, eol);
  const size_t sp = first.find(' ');
  r.method = first.substr(0, sp);
  std::string target = first.substr(sp + 1, first.rfind(" HTTP/") - sp - 1);
  if (const size_t q = target.find('?'); q != std::string::npos) {
    std::string query = target.substr(q + 1);
    target.resize(q);
    size_t at = 0;
    while (at <= query.size() && !query.empty()) {
      size_t amp = query.find('&', at);
      if (amp == std::string::npos) amp = query.size();
      const std::string kv = query.substr(at, amp - at);
      const size_t eq = kv.find('=');
      r.query.emplace_back(PercentDecode(kv.substr(0, eq)),
                           eq == std::string::npos ? "" : PercentDecode(kv.substr(eq + 1)));
      at = amp + 1;
    }
  }
  r.path = target;
  size_t at = eol + 1;
  while (at < text.size()) {
    eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(at, eol - at);
    at = eol + 1;
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      r.headers.back().second += "\n" + line;
      continue;
    }
    const size_t colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  *body = at < text.size() ? text.substr(at) : "";
  return r;
}

// "2015-08-30T12:36:00Z" → "20150830T123600Z".
std::string AmzDate(std::string iso) {
  std::erase(iso, '-');
  std::erase(iso, ':');
  return iso;
}

struct Case {
  fs::path dir;
  std::string prefix;  // "header-" for the generic suite, "" for the S3 examples.
};

void CheckCase(const Case& c) {
  SCOPED_TRACE(c.dir.filename().string());
  const json ctx = json::parse(ReadFileOrDie(c.dir / "context.json"));
  std::string body;
  RequestToSign r = ParseRequest(ReadFileOrDie(c.dir / "request.txt"), &body);
  Credentials creds;
  creds.access_key_id = ctx["credentials"]["access_key_id"];
  creds.secret_access_key = ctx["credentials"]["secret_access_key"];
  creds.session_token = ctx["credentials"].value("token", "");
  SigningParams p;
  p.region = ctx["region"];
  p.service = ctx["service"];
  p.amz_date = AmzDate(ctx["timestamp"]);
  p.normalize_path = ctx.value("normalize", false);
  p.add_content_sha256 = ctx.value("sign_body", false);
  p.sign_session_token = !ctx.value("omit_session_token", false);
  r.payload_sha256 = ctx.value("payload_sha256", Sha256Hex(body));
  const Signature s = Sign(&r, creds, p);
  EXPECT_EQ(s.canonical_request, ReadFileOrDie(c.dir / (c.prefix + "canonical-request.txt")));
  EXPECT_EQ(s.string_to_sign, ReadFileOrDie(c.dir / (c.prefix + "string-to-sign.txt")));
  EXPECT_EQ(s.signature, ReadFileOrDie(c.dir / (c.prefix + "signature.txt")));
  if (fs::exists(c.dir / "authorization.txt")) {
    EXPECT_EQ(s.authorization, ReadFileOrDie(c.dir / "authorization.txt"));
  }
  // The signed request carries what was signed.
  EXPECT_EQ(r.headers.back().first, "Authorization");
  EXPECT_EQ(r.headers.back().second, s.authorization);
}

std::vector<Case> CasesIn(const std::string& sub, const std::string& prefix) {
  std::vector<Case> out;
  for (const auto& e : fs::directory_iterator(DataPath("sigv4/" + sub))) {
    if (e.is_directory()) out.push_back({e.path(), prefix});
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.dir < b.dir; });
  return out;
}

TEST(SigV4, TheAwsTestSuite) {
  const auto cases = CasesIn("v4", "header-");
  ASSERT_EQ(cases.size(), 38u);
  for (const Case& c : cases) CheckCase(c);
}

TEST(SigV4, TheWorkedS3Examples) {
  const auto cases = CasesIn("s3", "");
  ASSERT_EQ(cases.size(), 4u);
  for (const Case& c : cases) CheckCase(c);
}

TEST(SigV4, TheS3SigningKey) {
  const std::string key =
      SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
  EXPECT_EQ(ferry::ToHex(AsBytes(key)),
            "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
}

TEST(SigV4, UriEncodingKeepsOnlyUnreservedBytes) {
  EXPECT_EQ(UriEncode("a-b_c.d~e/f g+h=i&j", true), "a-b_c.d~e/f%20g%2Bh%3Di%26j");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", true), "%E1%88%B4");
}

TEST(SigV4, ValuelessQueryKeysAreSignedWithAnEqualsSign) {
  // libcurl 7.88 gets `?uploads` wrong; the canonical form is "uploads=".
  RequestToSign r;
  r.method = "POST";
  r.path = "/bucket/key";
  r.query = {{"uploads", ""}};
  r.headers = {{"Host", "127.0.0.1:9000"}};
  r.payload_sha256 = Sha256Hex("");
  SigningParams p;
  p.region = "us-east-1";
  p.amz_date = "20261122T000000Z";
  std::string signed_headers;
  const std::string creq = CanonicalRequest(r, p, &signed_headers);
  EXPECT_NE(creq.find("\nuploads=\n"), std::string::npos) << creq;
}

}  // namespace
}  // namespace ferry::s3
