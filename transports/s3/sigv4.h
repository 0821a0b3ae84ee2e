// AWS Signature Version 4 (header signing), written from the AWS specification and checked
// against the AWS SigV4 test suite and the worked S3 examples (tests/data/sigv4/). We sign in
// our own code rather than through libcurl's CURLOPT_AWS_SIGV4, which signs some requests
// wrongly (unsorted query strings, valueless keys such as `?uploads`).
//
// A request is signed in four steps, each exposed for the tests: the canonical request, the
// string to sign, the signing key, and the signature, which goes into the Authorization header.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // Temporary credentials only.
};

// The parts of an HTTP request that the signature covers.
struct RequestToSign {
  std::string method{};  // "GET", "PUT", …
  // The path as the server sees it, not percent-encoded ("/bucket/data/ab/ab12…"); it is
  // encoded once for the canonical request (S3 does not double-encode).
  std::string path{};
  // Query parameters, not percent-encoded; a valueless key ("uploads") has an empty value.
  std::vector<std::pair<std::string, std::string>> query{};
  // Headers to sign and send, as (name, value); names in any case. Host must be among them.
  std::vector<std::pair<std::string, std::string>> headers{};
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256{};
};

struct SigningParams {
  std::string region{};            // "us-east-1"
  std::string service = "s3";      //
  std::string amz_date{};          // "20150830T123600Z" (UTC, ISO 8601 basic)
  bool normalize_path = false;     // Remove "." and ".." segments and empty ones (not for S3).
  bool add_content_sha256 = true;  // Send and sign x-amz-content-sha256 (S3 requires it).
  bool sign_session_token = true;  // Sign x-amz-security-token (else add it after signing).
};

// Percent-encodes every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~) as %XX with upper-case
// hex; '/' too unless `keep_slash`.
std::string UriEncode(std::string_view text, bool keep_slash);

// The hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// "k1=v1&k2=v2": names and values encoded, sorted by name then value. The canonical request's
// query line, and the query a request must send so the server computes the same.
std::string CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

// What the signature covers, as the SigV4 specification lays it out.
std::string CanonicalRequest(const RequestToSign& request, const SigningParams& params,
                             std::string* signed_headers);
std::string StringToSign(const std::string& canonical_request, const SigningParams& params);
// HMAC chain over date, region, service and "aws4_request": 32 raw bytes.
std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-content-sha256;x-amz-date"
  std::string signature;       // 64 hex
  std::string authorization;   // The Authorization header's value.
};

// Signs `request`: adds x-amz-date (if missing), x-amz-content-sha256 (if asked and missing) and
// x-amz-security-token (with a session token) to its headers, then computes the signature and
// adds the Authorization header.
Signature Sign(RequestToSign* request, const Credentials& credentials, const SigningParams& params);

}  // namespace ferry::s3
