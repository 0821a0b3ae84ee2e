// For tests run through tests/servers/with_rgw.sh: a transport on one of the buckets of its
// radosgw, with its endpoint and credentials from the environment.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "transports/s3/credentials.h"
#include "transports/s3/s3_transport.h"

namespace ferry::s3 {

// The bucket named by `bucket_variable` (FERRY_RGW_PLAIN_BUCKET, FERRY_RGW_LOCKED_BUCKET) under
// `prefix`, path-style. Objects over 5 MiB (S3's smallest part) go up in 5 MiB parts, so tests
// make multipart uploads of a few parts.
inline std::unique_ptr<S3Transport> OpenRgwTransport(const char* bucket_variable,
                                                     std::string prefix, S3Options options = {}) {
  S3Location where{.bucket = std::getenv(bucket_variable),
                   .prefix = std::move(prefix),
                   .endpoint = std::getenv("FERRY_RGW_ENDPOINT"),
                   .region = "us-east-1",
                   .path_style = true};
  auto credentials = LoadCredentials([](const char* n) { return std::getenv(n); }).value();
  options.multipart_threshold = 5u << 20;
  options.part_size = 5u << 20;
  return S3Transport::Open(where, credentials, options).value();
}

}  // namespace ferry::s3
