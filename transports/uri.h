// Where a repository lives, as the user writes it (issue #6): a local directory (`/path` or
// `file:///path`), an NFS export
// (`nfs://HOST[:PORT]/export/path[?version=3|4][&timeout=SECONDS]`) or an S3
// bucket and prefix (`s3://BUCKET[/prefix][?endpoint=URL&region=R&style=path|virtual]`).
// Parsing is strict: anything malformed is refused with an error naming the URI and the part.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ferry {

enum class TransportKind { kLocal, kNfs, kS3 };

struct NfsLocation {
  std::string host;
  uint16_t port = 0;        // 0: ask the portmapper.
  std::string export_path;  // "/export/path" as the server exports it, then the repository path.
  int version = 3;          // 3 or 4.
  // How long one call may wait for its answer before failing: through a reconnection, or a
  // server restarting, but not for ever.
  int timeout_seconds = 30;
};

struct S3Location {
  std::string bucket;
  std::string prefix;       // No leading or trailing '/'; "" for the bucket's root.
  std::string endpoint;     // "https://s3.us-east-1.amazonaws.com" or "http://127.0.0.1:4568".
  std::string region;       // From the URI, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1.
  bool path_style = false;  // Bucket in the path (S3-compatible servers) or in the host name.
};

struct TransportUri {
  TransportKind kind = TransportKind::kLocal;
  std::string local_path;
  NfsLocation nfs;
  S3Location s3;
};

// Parses `uri`. `getenv` supplies AWS_REGION / AWS_DEFAULT_REGION (tests pass their own).
// Errors: kInvalidArgument naming the URI and what is wrong with it.
Result<TransportUri> ParseTransportUri(std::string_view uri,
                                       const char* (*getenv)(const char*) = nullptr);

}  // namespace ferry
