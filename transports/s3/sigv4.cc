#include "transports/s3/sigv4.h"

#include <algorithm>
#include <cctype>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/bytes.h"

namespace ferry::s3 {

namespace {

std::string Hex(const unsigned char* data, size_t n) {
  return ToHex({reinterpret_cast<const std::byte*>(data), n});
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values are trimmed and runs of spaces (also folded continuation lines) become one.
std::string TrimValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// RFC 3986 remove_dot_segments, and empty segments dropped, keeping a trailing slash.
std::string NormalizePath(const std::string& path) {
  std::vector<std::string> segments;
  size_t at = 0;
  while (at <= path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    const std::string seg = path.substr(at, slash - at);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    at = slash + 1;
  }
  std::string out;
  for (const auto& s : segments) out += "/" + s;
  const bool trailing =
      path.size() > 1 && (path.back() == '/' || path.ends_with("/.") || path.ends_with("/.."));
  if (out.empty() || (trailing && !segments.empty())) out += "/";
  return out;
}

bool HasHeader(const RequestToSign& r, std::string_view lower_name) {
  return std::any_of(r.headers.begin(), r.headers.end(),
                     [&](const auto& h) { return Lower(h.first) == lower_name; });
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return Hex(out, sizeof(out));
}

std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out.push_back('&');
    out.append(k);
    out.push_back('=');
    out.append(v);
  }
  return out;
}

std::string CanonicalRequest(const RequestToSign& r, const SigningParams& params,
                             std::string* signed_headers) {
  std::string out = r.method + "\n";
  out += UriEncode(params.normalize_path ? NormalizePath(r.path) : r.path, true) + "\n";
  out += CanonicalQuery(r.query) + "\n";
  // Headers: lower-case names, sorted; repeated names joined with commas in the order sent.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : r.headers) {
    const std::string name = Lower(k);
    auto it = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& h) { return h.first == name; });
    if (it == headers.end()) {
      headers.emplace_back(name, TrimValue(v));
    } else {
      it->second.push_back(',');
      it->second.append(TrimValue(v));
    }
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  signed_headers->clear();
  for (const auto& [k, v] : headers) {
    out += k + ":" + v + "\n";
    *signed_headers += (signed_headers->empty() ? "" : ";") + k;
  }
  out += "\n" + *signed_headers + "\n" + r.payload_sha256;
  return out;
}

std::string StringToSign(const std::string& canonical_request, const SigningParams& params) {
  const std::string date = params.amz_date.substr(0, 8);
  return "AWS4-HMAC-SHA256\n" + params.amz_date + "\n" + date + "/" + params.region + "/" +
         params.service + "/aws4_request\n" + Sha256Hex(canonical_request);
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  std::string k = Hmac("AWS4" + std::string(secret), date);
  k = Hmac(k, region);
  k = Hmac(k, service);
  return Hmac(k, "aws4_request");
}

Signature Sign(RequestToSign* request, const Credentials& credentials,
               const SigningParams& params) {
  if (!HasHeader(*request, "x-amz-date"))
    request->headers.emplace_back("X-Amz-Date", params.amz_date);
  if (params.add_content_sha256 && !HasHeader(*request, "x-amz-content-sha256")) {
    request->headers.emplace_back("X-Amz-Content-Sha256", request->payload_sha256);
  }
  const bool token = !credentials.session_token.empty();
  if (token && params.sign_session_token) {
    request->headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  Signature s;
  s.canonical_request = CanonicalRequest(*request, params, &s.signed_headers);
  s.string_to_sign = StringToSign(s.canonical_request, params);
  const std::string date = params.amz_date.substr(0, 8);
  const std::string key =
      SigningKey(credentials.secret_access_key, date, params.region, params.service);
  const std::string raw = Hmac(key, s.string_to_sign);
  s.signature = Hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  s.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + date + "/" +
                    params.region + "/" + params.service +
                    "/aws4_request, SignedHeaders=" + s.signed_headers +
                    ", Signature=" + s.signature;
  if (token && !params.sign_session_token) {
    request->headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  request->headers.emplace_back("Authorization", s.authorization);
  return s;
}

}  // namespace ferry::s3
