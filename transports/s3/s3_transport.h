// S3Transport: a Transport on an S3 bucket and prefix (AWS or an S3-compatible server), over
// HttpClient with our own Signature V4.
//
//   Put       one PUT, or for objects written piece by piece and larger than
//             multipart_threshold, a multipart upload whose parts go up while the rest is
//             still being written. Every PUT carries x-amz-checksum-sha256 (and the signed
//             x-amz-content-sha256 of the same digest), so the server rejects a body damaged
//             on the way. S3 publishes an object whole when its PUT (or
//             CompleteMultipartUpload) succeeds: no reader ever sees part of it.
//   ReadAt    a ranged GET straight into the caller's buffer.
//   List      ListObjectsV2, page after page (each key with its size: ListWithSizes).
//   RemoveMany DeleteObjects, up to 1000 keys a request, several requests in flight.
//   exclusive Put sends If-None-Match: * (AWS refuses to overwrite) after a HEAD (for servers
//             that ignore the condition; between the two a racing writer could still win).
//   Object    with a retention policy, every PUT (or multipart upload) of a name that is not
//   Lock      exempt carries x-amz-object-lock-mode and -retain-until-date (and Content-MD5,
//             which AWS demands there); a multipart upload is also given its retention after it
//             completes (radosgw ignores it on CreateMultipartUpload). The bucket is versioned
//             (Object Lock implies it), so Remove deletes the object's current version by id — a
//             plain DELETE would only hide it behind a delete marker and free nothing — and refuses
//             while the version is retained.
//
// Every request is retried with exponential backoff and full jitter on 5xx, 429/SlowDown,
// RequestTimeout, timeouts and dropped or refused connections; 4xx answers (a wrong key, no
// permission, a missing bucket) are final and reported with the server's code and message.
//
// Thread-safety: as Transport.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "transports/s3/http_client.h"
#include "transports/s3/sigv4.h"
#include "transports/transport.h"
#include "transports/uri.h"

namespace ferry::s3 {

struct S3Options {
  unsigned parallelism = 16;  // Connections, and requests callers should keep in flight.
  uint64_t multipart_threshold = 64u << 20;  // Larger streamed objects go up in parts…
  uint64_t part_size = 16u << 20;            // …of this size (S3's minimum is 5 MiB).
  unsigned parts_in_flight = 4;              // Per object being written.
  unsigned list_page_size = 1000;  // max-keys (max-uploads, max-parts) of each listing request.
  unsigned delete_batch = 1000;    // Keys per DeleteObjects request (S3 takes at most 1000).
  unsigned max_attempts = 6;       // Of each request, the first included.
  std::chrono::milliseconds backoff_base{50};
  std::chrono::milliseconds backoff_cap{2000};
  HttpClient::Options http;
  // Reads worth a request: on s3rver and radosgw a restore reading 16 MiB windows costs the
  // server about half the CPU of one reading 4 MiB windows (bench/RESULTS.md, issue #6).
  size_t efficient_read = 16u << 20;
};

class S3Transport final : public Transport {
 public:
  // Connects and checks, with one listing request, that the bucket exists and the credentials
  // are accepted. Errors: kUnavailable (server unreachable), kPermissionDenied (rejected
  // credentials or signature), kNotFound (no such bucket), each naming the URI and the server's
  // own code and message.
  static Result<std::unique_ptr<S3Transport>> Open(const S3Location& location,
                                                   const Credentials& credentials,
                                                   const S3Options& options = {});
  ~S3Transport() override;

  std::string Describe() const override;
  TransportCapabilities capabilities() const override;
  Status Put(std::string_view name, ByteView data, bool exclusive = false) override;
  Result<std::unique_ptr<ObjectWriter>> Create(std::string_view name,
                                               uint64_t size_hint = 0) override;
  Result<std::string> Get(std::string_view name) override;
  Result<size_t> ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) override;
  Result<uint64_t> Size(std::string_view name) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Result<std::vector<ListedObject>> ListWithSizes(std::string_view prefix) override;
  Status Remove(std::string_view name) override;
  // Without a retention policy, DeleteObjects requests of delete_batch keys; with one, each
  // object's version and retention are looked at first, as by Remove().
  Status RemoveMany(const std::vector<std::string>& names) override;
  // The multipart uploads under the prefix that were never completed or aborted (a writer
  // killed mid-object, or an answer to its abort lost), with the bytes of their parts.
  // kNotSupported when the server does not implement ListMultipartUploads.
  Result<std::vector<LeftoverTemporary>> ListLeftovers() override;
  // Aborts the upload (AbortMultipartUpload), which deletes its parts.
  Status RemoveLeftover(const LeftoverTemporary& leftover) override;
  // Checks with GET ?object-lock that the bucket has Object Lock enabled. Call before writing
  // anything (not thread-safe with writers).
  Status SetObjectLockPolicy(const ObjectLockPolicy& policy) override;
  Result<SystemTime> RetainedUntil(std::string_view name) override;
  Status ExtendRetention(std::string_view name, SystemTime until) override;

  // Requests sent, retries among them, upload buffers allocated rather than reused (for tests
  // and benchmarks).
  uint64_t requests() const;
  uint64_t retries() const;
  uint64_t buffers_allocated() const;

  // One S3 request: what a caller fills in. Public for the object writer in the .cc.
  struct Call {
    std::string method{};
    std::string key{};  // Object key in the bucket ("" for the bucket itself).
    std::vector<std::pair<std::string, std::string>> query{};    // Not encoded.
    std::vector<std::pair<std::string, std::string>> headers{};  // Signed.
    ByteView body{};
    std::string body_sha256{};  // Hex; computed from `body` when empty.
    MutableByteView sink{};
  };
  // Signs and sends `call`, retrying what is worth retrying. Returns the final response
  // whatever its status; errors only when no response came (kUnavailable after the last
  // attempt, naming the URL).
  Result<HttpResponse> Execute(Call call);
  // The error a non-2xx response means, as "<what>: HTTP <status> <Code>: <Message>".
  Status ErrorOf(const HttpResponse& response, std::string_view what) const;
  // The object key of repository object `name`, and its URI for messages.
  std::string KeyOf(std::string_view name) const;
  std::string UriOf(std::string_view name) const;
  const S3Options& options() const { return options_; }
  // Until when a new object `name` written now must be retained: nullopt without a retention
  // policy or for an exempt name.
  std::optional<SystemTime> RetentionFor(std::string_view name) const;
  // Adds the Object Lock headers that retain a new object until `until` (if set). `body` is
  // what goes up in this request (for its MD5).
  void AddRetentionHeaders(std::optional<SystemTime> until, ByteView body,
                           std::vector<std::pair<std::string, std::string>>* headers) const;
  // Upload buffers, reused: a pack-sized allocation per pack would make the C library keep
  // freed ones around, and every fresh one costs page faults. Holds a few at most, none under
  // kSmallestPooledBuffer.
  std::string TakeBuffer(size_t capacity);
  void ReturnBuffer(std::string buffer);
  static constexpr size_t kSmallestPooledBuffer = 1u << 20;

 private:
  struct Impl;
  S3Transport(std::unique_ptr<Impl> impl, S3Options options);
  // The bytes of the parts of an unfinished upload (ListParts); nullopt if it is gone.
  Result<std::optional<uint64_t>> UploadedBytes(const LeftoverTemporary& upload);

  std::unique_ptr<Impl> impl_;
  const S3Options options_;
};

}  // namespace ferry::s3
