// Text fields fuzz target: the small text formats ferry reads from outside a repository — the
// AWS shared credentials file (the user's disk), repository URIs (the command line, and
// ferryd's API to come) and RFC 3339 times (S3's retention headers, snapshots and locks).
// The input's first byte picks the parser. Any bytes must fail cleanly; what parses must keep
// the parser's promises (credentials without surrounding blanks, a URI with the parts its kind
// needs, a time that formats and parses back to itself).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/origin.h"

#include "transports/s3/credentials.h"
#include "transports/uri.h"

namespace {

bool Blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool Trimmed(std::string_view s) { return s.empty() || (!Blank(s.front()) && !Blank(s.back())); }

void CheckCredentials(std::string_view text) {
  for (const char* profile : {"default", "backup"}) {
    auto c = ferry::s3::ParseCredentialsFile(text, profile, "fuzz");
    if (!c) continue;
    if (c->access_key_id.empty() || c->secret_access_key.empty()) std::abort();
    if (!Trimmed(c->access_key_id) || !Trimmed(c->secret_access_key) ||
        !Trimmed(c->session_token)) {
      std::abort();
    }
    if (c->access_key_id.find('\n') != std::string::npos) std::abort();
  }
}

const char* NoEnv(const char*) { return nullptr; }

void CheckUri(std::string_view text) {
  auto uri = ferry::ParseTransportUri(text, NoEnv);
  if (!uri) return;
  switch (uri->kind) {
    case ferry::TransportKind::kLocal:
      if (uri->local_path.empty()) std::abort();
      break;
    case ferry::TransportKind::kNfs:
      if (uri->nfs.host.empty() || uri->nfs.export_path.empty() ||
          uri->nfs.export_path.front() != '/' || (uri->nfs.version != 3 && uri->nfs.version != 4)) {
        std::abort();
      }
      break;
    case ferry::TransportKind::kS3: {
      const std::string& prefix = uri->s3.prefix;
      if (uri->s3.bucket.empty() || uri->s3.endpoint.empty() || uri->s3.region.empty() ||
          (!prefix.empty() && (prefix.front() == '/' || prefix.back() == '/'))) {
        std::abort();
      }
      break;
    }
  }
}

void CheckTime(std::string_view text) {
  const auto when = ferry::ParseRfc3339(text);
  if (!when || when->time_since_epoch().count() < 0) return;
  const auto again = ferry::ParseRfc3339(ferry::Rfc3339(*when));
  if (!again || *again != *when) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      CheckCredentials(text);
      break;
    case 1:
      CheckUri(text);
      break;
    case 2:
      CheckTime(text);
      break;
  }
  return 0;
}
