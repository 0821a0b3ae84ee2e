#include "transports/uri.h"

#include <cctype>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

namespace ferry {

namespace {

Status Bad(std::string_view uri, std::string_view why) {
  return Status::InvalidArgument(fmt::format("repository URI '{}': {}", uri, why));
}

// Cuts "?k=v&k2=v2" off `*rest` and returns it as a map; a key given twice or without '=' is
// an error.
Result<std::map<std::string, std::string>> TakeParameters(std::string_view uri,
                                                          std::string_view* rest) {
  std::string_view q;
  if (const size_t at = rest->find('?'); at != std::string_view::npos) {
    q = rest->substr(at + 1);
    *rest = rest->substr(0, at);
  }
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < q.size()) {
    size_t amp = q.find('&', at);
    if (amp == std::string_view::npos) amp = q.size();
    const std::string_view kv = q.substr(at, amp - at);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Err(Bad(uri, fmt::format("'{}' is not NAME=VALUE", kv)));
    }
    if (!out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1))).second) {
      return Err(Bad(uri, fmt::format("'{}' is given twice", kv.substr(0, eq))));
    }
    at = amp + 1;
  }
  return out;
}

// Bucket names as S3 allows them: 3–63 of a-z 0-9 . -, starting and ending with a letter or
// digit.
bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(b.front())) &&
         std::isalnum(static_cast<unsigned char>(b.back()));
}

// HOST[:PORT] → host and port (0 if none). IPv6 literals in brackets.
Status SplitHostPort(std::string_view uri, std::string_view authority, std::string* host,
                     uint16_t* port) {
  std::string_view h = authority, p;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(uri, "unclosed '[' in the host");
    h = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Bad(uri, "junk after the IPv6 address");
      p = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    h = authority.substr(0, colon);
    p = authority.substr(colon + 1);
  }
  if (h.empty()) return Bad(uri, "no host");
  *host = std::string(h);
  *port = 0;
  if (!p.empty() || authority.ends_with(':')) {
    unsigned long v = 0;
    for (char c : p) {
      if (!std::isdigit(static_cast<unsigned char>(c)) ||
          (v = v * 10 + static_cast<unsigned>(c - '0')) > 65535) {
        return Bad(uri, fmt::format("port '{}' is not a number from 1 to 65535", p));
      }
    }
    if (v == 0) return Bad(uri, fmt::format("port '{}' is not a number from 1 to 65535", p));
    *port = static_cast<uint16_t>(v);
  }
  return Status();
}

Result<TransportUri> ParseNfs(std::string_view uri, std::string_view rest) {
  TransportUri t;
  t.kind = TransportKind::kNfs;
  FERRY_ASSIGN_OR_RETURN(auto params, TakeParameters(uri, &rest));
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Err(Bad(uri, "no export path (nfs://HOST[:PORT]/export/path)"));
  }
  FERRY_RETURN_IF_ERROR(SplitHostPort(uri, rest.substr(0, slash), &t.nfs.host, &t.nfs.port));
  t.nfs.export_path = std::string(rest.substr(slash));
  for (const auto& [k, v] : params) {
    if (k == "version") {
      if (v != "3" && v != "4") return Err(Bad(uri, "version must be 3 or 4"));
      t.nfs.version = v == "3" ? 3 : 4;
    } else if (k == "timeout") {
      unsigned seconds = 0;
      bool number = !v.empty() && v.size() <= 4;
      for (const char c : v) {
        number = number && std::isdigit(static_cast<unsigned char>(c));
        seconds = seconds * 10 + static_cast<unsigned>(c - '0');
      }
      if (!number || seconds < 1 || seconds > 3600) {
        return Err(
            Bad(uri, fmt::format("timeout '{}' is not a number of seconds from 1 to 3600", v)));
      }
      t.nfs.timeout_seconds = static_cast<int>(seconds);
    } else {
      return Err(Bad(uri, fmt::format("unknown parameter '{}' (version, timeout)", k)));
    }
  }
  return t;
}

Result<TransportUri> ParseS3(std::string_view uri, std::string_view rest,
                             const char* (*getenv)(const char*)) {
  TransportUri t;
  t.kind = TransportKind::kS3;
  FERRY_ASSIGN_OR_RETURN(auto params, TakeParameters(uri, &rest));
  const size_t slash = rest.find('/');
  t.s3.bucket = std::string(rest.substr(0, slash));
  if (!ValidBucket(t.s3.bucket)) {
    return Err(
        Bad(uri, fmt::format("'{}' is not a bucket name (3-63 of a-z 0-9 . -)", t.s3.bucket)));
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (prefix.starts_with('/') || prefix.find("//") != std::string_view::npos) {
      return Err(Bad(uri, "empty path segment"));
    }
    t.s3.prefix = std::string(prefix);
  }
  std::string style;
  for (const auto& [k, v] : params) {
    if (k == "endpoint") {
      if (!(v.starts_with("http://") || v.starts_with("https://")) ||
          v.find('/', v.find("://") + 3) != std::string::npos) {
        return Err(Bad(uri, fmt::format("endpoint '{}' is not http(s)://HOST[:PORT]", v)));
      }
      std::string host;
      uint16_t port = 0;
      FERRY_RETURN_IF_ERROR(
          SplitHostPort(uri, std::string_view(v).substr(v.find("://") + 3), &host, &port));
      t.s3.endpoint = v;
    } else if (k == "region") {
      if (v.empty()) return Err(Bad(uri, "empty region"));
      t.s3.region = v;
    } else if (k == "style") {
      if (v != "path" && v != "virtual") return Err(Bad(uri, "style must be path or virtual"));
      style = v;
    } else {
      return Err(Bad(uri, fmt::format("unknown parameter '{}' (endpoint, region, style)", k)));
    }
  }
  if (t.s3.region.empty()) {
    for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      const char* v = getenv(name);
      if (v != nullptr && *v != '\0') {
        t.s3.region = v;
        break;
      }
    }
    if (t.s3.region.empty()) t.s3.region = "us-east-1";
  }
  // S3-compatible servers on an endpoint of their own usually want the bucket in the path;
  // AWS itself wants it in the host name (and a dotted bucket cannot be, under TLS).
  const bool custom = !t.s3.endpoint.empty();
  if (!custom) t.s3.endpoint = "https://s3." + t.s3.region + ".amazonaws.com";
  t.s3.path_style = style.empty() ? custom : style == "path";
  return t;
}

}  // namespace

Result<TransportUri> ParseTransportUri(std::string_view uri, const char* (*getenv)(const char*)) {
  if (getenv == nullptr) getenv = [](const char* name) -> const char* { return std::getenv(name); };
  if (uri.empty()) return Err(Status::InvalidArgument("the repository URI is empty"));
  if (uri.starts_with("nfs://")) return ParseNfs(uri, uri.substr(6));
  if (uri.starts_with("s3://")) return ParseS3(uri, uri.substr(5), getenv);
  TransportUri t;
  if (uri.starts_with("file://")) {
    const std::string_view path = uri.substr(7);
    if (path.empty() || path.front() != '/') {
      return Err(Bad(uri, "a file URI needs an absolute path (file:///path)"));
    }
    t.local_path = std::string(path);
    return t;
  }
  if (const size_t scheme = uri.find("://"); scheme != std::string_view::npos) {
    return Err(
        Bad(uri, fmt::format("unknown scheme '{}' (file, nfs or s3)", uri.substr(0, scheme))));
  }
  t.local_path = std::string(uri);
  return t;
}

}  // namespace ferry
