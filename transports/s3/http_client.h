// HttpClient: many HTTP requests in flight over kept-alive connections, on libcurl's multi
// interface. One thread owns the multi handle and drives every transfer; callers hand it
// requests from any thread and either wait for the response (Send) or get a callback on that
// thread (Start). Request bodies and response sinks are the caller's memory: nothing is copied
// on the way in, and a ranged GET lands straight in the caller's buffer.
//
// Signing, retries and the meaning of status codes belong to the caller (transports/s3/).
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace ferry::s3 {

struct HttpRequest {
  std::string method{};  // "GET", "HEAD", "PUT", "POST", "DELETE".
  std::string url{};     // Complete, already percent-encoded.
  std::vector<std::pair<std::string, std::string>> headers{};
  ByteView body{};  // Sent as the request body; must stay valid until the response arrives.
  // When non-empty, the response body is written here (a ranged GET) instead of into
  // HttpResponse::body; bytes beyond its size are counted in `overflow` and dropped.
  MutableByteView sink{};
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // Names in lower case.
  std::string body;
  size_t sink_bytes = 0;  // Bytes written into HttpRequest::sink.
  size_t overflow = 0;    // Bytes that did not fit in the sink.

  // The value of header `name` (lower case), or "" if absent.
  std::string_view Header(std::string_view name) const;
};

class HttpClient {
 public:
  struct Options {
    unsigned max_connections = 16;
    std::chrono::milliseconds connect_timeout{5000};
    // A transfer slower than 1 KiB/s for this long is abandoned (no overall limit: a large
    // upload on a slow link may legitimately take minutes).
    std::chrono::seconds stall_timeout{30};
  };

  // Errors: kIoError if libcurl cannot be set up.
  static Result<std::unique_ptr<HttpClient>> Create(const Options& options);
  virtual ~HttpClient() = default;

  using Callback = std::function<void(Result<HttpResponse>)>;

  // Queues `request`; `done` runs on the client's thread with the response (any status) or,
  // when no response arrived, kUnavailable (timeout, refused or reset connection) or kIoError,
  // naming the URL. `done` must not block.
  virtual void Start(HttpRequest request, Callback done) = 0;

  // Start, then wait.
  Result<HttpResponse> Send(HttpRequest request);
};

}  // namespace ferry::s3
