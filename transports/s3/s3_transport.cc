#include "transports/s3/s3_transport.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <ctime>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/origin.h"

#include "transports/s3/s3_xml.h"

namespace ferry::s3 {
namespace {

// S3 refuses a DeleteObjects request of more keys.
constexpr size_t kMaxDeleteBatch = 1000;

struct Digest {
  std::string hex;
  std::string base64;
};

std::string Base64(const unsigned char* raw, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), raw, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

Digest Sha256Of(ByteView data) {
  unsigned char raw[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), raw);
  return {ToHex({reinterpret_cast<const std::byte*>(raw), sizeof raw}), Base64(raw, sizeof raw)};
}

// Content-MD5: what S3 demands on requests that set Object Lock retention.
std::string Md5Base64(ByteView data) {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), raw, &size, EVP_md5(), nullptr);
  return Base64(raw, size);
}

std::string_view ModeName(ObjectLockPolicy::Mode mode) {
  return mode == ObjectLockPolicy::Mode::kCompliance ? "COMPLIANCE" : "GOVERNANCE";
}

// The retention date a HEAD answer carries: the epoch when there is none.
Result<SystemTime> RetainUntilOf(const HttpResponse& head, const std::string& uri) {
  const std::string_view until = head.Header("x-amz-object-lock-retain-until-date");
  if (until.empty()) return SystemTime{};
  const auto when = ParseRfc3339(until);
  if (!when) {
    return Err(
        Status::IoError(fmt::format("retention of {}: cannot read the date '{}'", uri, until)));
  }
  return *when;
}

std::string AmzDateNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

bool Is2xx(long status) { return status >= 200 && status < 300; }

bool IsRetryableStatus(const HttpResponse& r) {
  // 501 Not Implemented is an answer, not a passing failure.
  if ((r.status >= 500 && r.status != 501) || r.status == 429) return true;
  // S3 answers a client that sent its body too slowly with 400 RequestTimeout.
  return r.status == 400 && r.body.find("<Code>RequestTimeout</Code>") != std::string::npos;
}

}  // namespace

struct S3Transport::Impl {
  S3Location location;
  Credentials credentials;
  std::string scheme;  // "http" or "https"
  std::string host;    // "127.0.0.1:4568", or "bucket.s3.eu-west-1.amazonaws.com"
  std::unique_ptr<HttpClient> http;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> buffers_allocated{0};
  std::mutex pool_mu;
  std::vector<std::string> pool;  // GUARDED_BY(pool_mu)
  std::mutex rng_mu;
  std::mt19937_64 rng{std::random_device{}()};
  std::optional<ObjectLockPolicy> retention;  // Set before any write; read-only after.

  // Path of `key` as signed and sent (not yet percent-encoded).
  std::string PathOf(std::string_view key) const {
    std::string path = "/";
    if (location.path_style) {
      path += location.bucket;
      if (!key.empty()) path += "/";
    }
    path += key;
    return path;
  }

  std::chrono::milliseconds Backoff(unsigned attempt, const S3Options& o) {
    const auto ceiling =
        std::min<int64_t>(o.backoff_cap.count(), o.backoff_base.count() << std::min(attempt, 20u));
    std::lock_guard lock(rng_mu);
    return std::chrono::milliseconds(
        std::uniform_int_distribution<int64_t>(ceiling / 4, ceiling)(rng));
  }
};

S3Transport::S3Transport(std::unique_ptr<Impl> impl, S3Options options)
    : impl_(std::move(impl)), options_(std::move(options)) {}

S3Transport::~S3Transport() = default;

Result<std::unique_ptr<S3Transport>> S3Transport::Open(const S3Location& location,
                                                       const Credentials& credentials,
                                                       const S3Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->location = location;
  impl->credentials = credentials;
  const size_t sep = location.endpoint.find("://");
  if (sep == std::string::npos) {
    return Err(Status::InvalidArgument("S3 endpoint '" + location.endpoint + "' has no scheme"));
  }
  impl->scheme = location.endpoint.substr(0, sep);
  std::string_view host = std::string_view(location.endpoint).substr(sep + 3);
  host = host.substr(0, host.find('/'));
  // The Host header curl sends leaves out a default port; the signed one must match it.
  if ((impl->scheme == "http" && host.ends_with(":80")) ||
      (impl->scheme == "https" && host.ends_with(":443"))) {
    host.remove_suffix(host.size() - host.rfind(':'));
  }
  impl->host = location.path_style ? std::string(host) : location.bucket + "." + std::string(host);
  S3Options o = options;
  o.http.max_connections = std::max(o.http.max_connections, o.parallelism);
  o.parts_in_flight = std::max(o.parts_in_flight, 1u);
  o.part_size = std::max<uint64_t>(o.part_size, 1);
  FERRY_ASSIGN_OR_RETURN(impl->http, HttpClient::Create(o.http));
  std::unique_ptr<S3Transport> t(new S3Transport(std::move(impl), o));

  // One cheap listing proves the server answers, the bucket exists and our signature is good.
  Call probe{.method = "GET",
             .query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", t->KeyOf("")}}};
  auto r = t->Execute(std::move(probe));
  if (!r.has_value()) {
    return Err(Status::Unavailable(fmt::format("cannot reach {} at {}: {}", t->Describe(),
                                               location.endpoint, r.error().message())));
  }
  if (!Is2xx(r->status)) return Err(t->ErrorOf(*r, "open " + t->Describe()));
  return t;
}

std::string S3Transport::Describe() const {
  const S3Location& l = impl_->location;
  return l.prefix.empty() ? "s3://" + l.bucket : "s3://" + l.bucket + "/" + l.prefix;
}

std::string S3Transport::KeyOf(std::string_view name) const {
  const std::string& prefix = impl_->location.prefix;
  if (prefix.empty()) return std::string(name);
  std::string key = prefix;
  key.push_back('/');
  key.append(name);
  return key;
}

std::string S3Transport::UriOf(std::string_view name) const {
  return "s3://" + impl_->location.bucket + "/" + KeyOf(name);
}

std::string S3Transport::TakeBuffer(size_t capacity) {
  {
    std::lock_guard lock(impl_->pool_mu);
    auto& pool = impl_->pool;
    for (size_t i = 0; i < pool.size(); ++i) {
      if (pool[i].capacity() >= capacity) {
        std::string b = std::move(pool[i]);
        pool.erase(pool.begin() + static_cast<ptrdiff_t>(i));
        return b;
      }
    }
  }
  impl_->buffers_allocated.fetch_add(1, std::memory_order_relaxed);
  std::string b;
  b.reserve(capacity);
  return b;
}

void S3Transport::ReturnBuffer(std::string buffer) {
  // The buffer of a small object is not worth one of the few slots.
  if (buffer.capacity() < kSmallestPooledBuffer) return;
  buffer.clear();
  std::lock_guard lock(impl_->pool_mu);
  // Enough for the packs a backup keeps in flight plus the one being filled.
  if (impl_->pool.size() < 6) impl_->pool.push_back(std::move(buffer));
}

TransportCapabilities S3Transport::capabilities() const {
  return {.atomic_rename = false,
          .object_lock = impl_->retention.has_value(),
          .parallelism = options_.parallelism,
          .efficient_read = options_.efficient_read};
}

uint64_t S3Transport::requests() const { return impl_->requests.load(); }
uint64_t S3Transport::retries() const { return impl_->retries.load(); }
uint64_t S3Transport::buffers_allocated() const { return impl_->buffers_allocated.load(); }

Result<HttpResponse> S3Transport::Execute(Call call) {
  if (call.body_sha256.empty()) call.body_sha256 = Sha256Of(call.body).hex;
  const std::string path = impl_->PathOf(call.key);
  // The query exactly as the signature canonicalises it, so the two can never disagree.
  std::string url = impl_->scheme + "://" + impl_->host + UriEncode(path, true);
  if (!call.query.empty()) url += "?" + CanonicalQuery(call.query);
  Status last;
  for (unsigned attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) {
      impl_->retries.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(impl_->Backoff(attempt - 1, options_));
    }
    // Signed afresh each time: the date is part of the signature.
    RequestToSign to_sign{.method = call.method,
                          .path = path,
                          .query = call.query,
                          .headers = call.headers,
                          .payload_sha256 = call.body_sha256};
    to_sign.headers.emplace_back("Host", impl_->host);
    Sign(&to_sign, impl_->credentials,
         SigningParams{.region = impl_->location.region, .amz_date = AmzDateNow()});
    impl_->requests.fetch_add(1, std::memory_order_relaxed);
    auto r = impl_->http->Send(HttpRequest{.method = call.method,
                                           .url = url,
                                           .headers = std::move(to_sign.headers),
                                           .body = call.body,
                                           .sink = call.sink});
    if (!r.has_value()) {
      if (!r.error().IsRetryable()) return r;
      last = r.error();
      continue;
    }
    if (IsRetryableStatus(*r) && attempt + 1 < options_.max_attempts) {
      last = ErrorOf(*r, call.method + " " + url);
      continue;
    }
    return r;
  }
  return Err(Status::Unavailable(
      fmt::format("{} (gave up after {} attempts)", last.message(), options_.max_attempts)));
}

Status S3Transport::ErrorOf(const HttpResponse& response, std::string_view what) const {
  const ErrorBody e = ParseErrorBody(response.body);
  std::string text = fmt::format("{}: HTTP {}", what, response.status);
  if (!e.code.empty()) text += " " + e.code;
  if (!e.message.empty()) text += ": " + e.message;
  switch (response.status) {
    case 401:
    case 403:
      if (e.code == "SignatureDoesNotMatch") {
        text += " (is the secret key right? AWS_SECRET_ACCESS_KEY or the profile's)";
      } else if (e.code == "InvalidAccessKeyId") {
        text += " (the server does not know this access key id)";
      }
      return Status::PermissionDenied(text);
    case 404:
      if (e.code == "NoSuchBucket") {
        text += fmt::format(" (create bucket '{}' first)", impl_->location.bucket);
      }
      return Status::NotFound(text);
    case 409:
    case 412:
      return Status::AlreadyExists(text);
    case 400:
    case 416:
      return Status::InvalidArgument(text);
    default:
      if (response.status >= 500 || response.status == 429) return Status::Unavailable(text);
      return Status::IoError(text);
  }
}

Status S3Transport::Put(std::string_view name, ByteView data, bool exclusive) {
  if (exclusive) {
    auto size = Size(name);
    if (size.has_value()) return Status::AlreadyExists(UriOf(name) + " already exists");
    if (!size.error().IsNotFound()) return size.error();
  }
  const Digest digest = Sha256Of(data);
  Call call{.method = "PUT",
            .key = KeyOf(name),
            .headers = {{"x-amz-checksum-sha256", digest.base64}},
            .body = data,
            .body_sha256 = digest.hex};
  if (exclusive) call.headers.emplace_back("If-None-Match", "*");
  AddRetentionHeaders(RetentionFor(name), data, &call.headers);
  FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute(std::move(call)));
  if (r.status == 412) {
    // Absent a moment ago, there now. Most likely this very PUT, sent again after its answer
    // was lost (by Execute, or by libcurl itself, which resends once when a reused
    // connection dies unanswered, so no attempt count can tell). Holding our bytes, the
    // object is what this put was to create.
    auto existing = Get(name);
    if (existing.has_value() && std::ranges::equal(AsBytes(*existing), data)) return Status();
    return Status::AlreadyExists(UriOf(name) + " already exists");
  }
  if (!Is2xx(r.status)) return ErrorOf(r, "put " + UriOf(name));
  return Status();
}

Result<std::string> S3Transport::Get(std::string_view name) {
  FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute({.method = "GET", .key = KeyOf(name)}));
  if (!Is2xx(r.status)) return Err(ErrorOf(r, "get " + UriOf(name)));
  return std::move(r.body);
}

Result<size_t> S3Transport::ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) {
  if (dst.empty()) return size_t{0};
  FERRY_ASSIGN_OR_RETURN(
      HttpResponse r,
      Execute({.method = "GET",
               .key = KeyOf(name),
               .headers = {{"Range", fmt::format("bytes={}-{}", offset, offset + dst.size() - 1)}},
               .sink = dst}));
  // A range that starts at or past the end: nothing to read (as a file's pread says).
  if (r.status == 416) {
    FERRY_ASSIGN_OR_RETURN(uint64_t size, Size(name));
    if (offset >= size) return size_t{0};
    return Err(ErrorOf(r, fmt::format("read {} at {}", UriOf(name), offset)));
  }
  if (r.status == 200 && offset != 0) {
    return Err(Status::IoError(
        fmt::format("read {} at {}: the server ignored the Range header", UriOf(name), offset)));
  }
  if (!Is2xx(r.status)) return Err(ErrorOf(r, fmt::format("read {} at {}", UriOf(name), offset)));
  return r.sink_bytes;
}

Result<uint64_t> S3Transport::Size(std::string_view name) {
  FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute({.method = "HEAD", .key = KeyOf(name)}));
  if (r.status == 404) return Err(Status::NotFound(UriOf(name) + " does not exist"));
  if (!Is2xx(r.status)) return Err(ErrorOf(r, "size of " + UriOf(name)));
  const std::string_view length = r.Header("content-length");
  uint64_t size = 0;
  const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), size);
  if (length.empty() || ec != std::errc() || end != length.data() + length.size()) {
    return Err(
        Status::IoError(fmt::format("size of {}: bad Content-Length '{}'", UriOf(name), length)));
  }
  return size;
}

Result<std::vector<std::string>> S3Transport::List(std::string_view prefix) {
  FERRY_ASSIGN_OR_RETURN(auto listed, ListWithSizes(prefix));
  return NamesOf(std::move(listed));
}

Result<std::vector<ListedObject>> S3Transport::ListWithSizes(std::string_view prefix) {
  const std::string key_prefix = KeyOf(std::string(prefix) + "/");
  const size_t strip = KeyOf("").size();  // "prefix/", or "" at the bucket's root.
  std::vector<ListedObject> out;
  std::string token;
  do {
    Call call{.method = "GET",
              .query = {{"list-type", "2"},
                        {"prefix", key_prefix},
                        {"max-keys", std::to_string(options_.list_page_size)}}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute(std::move(call)));
    const std::string what = "list " + UriOf(std::string(prefix) + "/");
    if (!Is2xx(r.status)) return Err(ErrorOf(r, what));
    auto page = ParseListPage(r.body);
    if (!page.has_value()) return Err(Status::IoError(what + ": " + page.error().message()));
    for (ListedKey& o : page->objects) {
      if (!o.key.starts_with(key_prefix)) {
        return Err(Status::IoError(what + ": the server returned key '" + o.key +
                                   "', outside the prefix"));
      }
      out.push_back({o.key.substr(strip), o.size});
    }
    token = page->truncated ? page->next_token : std::string();
  } while (!token.empty());
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<LeftoverTemporary>> S3Transport::ListLeftovers() {
  const std::string key_prefix = KeyOf("");  // "prefix/", or "" at the bucket's root.
  const std::string what = "list the unfinished uploads under " + UriOf("");
  const SystemTime now = std::chrono::system_clock::now();
  std::vector<LeftoverTemporary> out;
  std::string key_marker, upload_id_marker;
  do {
    Call call{.method = "GET",
              .query = {{"uploads", ""},
                        {"prefix", key_prefix},
                        {"max-uploads", std::to_string(options_.list_page_size)}}};
    if (!key_marker.empty()) {
      call.query.emplace_back("key-marker", key_marker);
      call.query.emplace_back("upload-id-marker", upload_id_marker);
    }
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute(std::move(call)));
    if (r.status == 501) {
      return Err(Status::NotSupported(fmt::format(
          "the S3 server at {} does not list unfinished multipart uploads (HTTP 501 {})",
          impl_->location.endpoint, ParseErrorBody(r.body).code)));
    }
    if (!Is2xx(r.status)) return Err(ErrorOf(r, what));
    auto page = ParseUploadsPage(r.body);
    if (!page.has_value()) return Err(Status::IoError(what + ": " + page.error().message()));
    for (MultipartUpload& u : page->uploads) {
      if (!u.key.starts_with(key_prefix)) {
        return Err(Status::IoError(what + ": the server returned key '" + u.key +
                                   "', outside the prefix"));
      }
      const auto initiated = ParseRfc3339(u.initiated);
      if (!initiated) {
        return Err(Status::IoError(fmt::format("{}: cannot read the date '{}' of an upload of {}",
                                               what, u.initiated, u.key)));
      }
      LeftoverTemporary l{
          .name = u.key.substr(key_prefix.size()),
          .size = 0,
          .age = std::max(std::chrono::seconds(0),
                          std::chrono::duration_cast<std::chrono::seconds>(now - *initiated)),
          .upload_id = std::move(u.upload_id)};
      FERRY_ASSIGN_OR_RETURN(std::optional<uint64_t> bytes, UploadedBytes(l));
      if (!bytes) continue;  // Completed or aborted since the listing.
      l.size = *bytes;
      out.push_back(std::move(l));
    }
    key_marker = page->truncated ? page->next_key_marker : std::string();
    upload_id_marker = page->next_upload_id_marker;
  } while (!key_marker.empty());
  return out;
}

Result<std::optional<uint64_t>> S3Transport::UploadedBytes(const LeftoverTemporary& upload) {
  const std::string what = "list the parts of an unfinished upload of " + UriOf(upload.name);
  uint64_t bytes = 0;
  std::string marker;
  do {
    Call call{.method = "GET",
              .key = KeyOf(upload.name),
              .query = {{"uploadId", upload.upload_id},
                        {"max-parts", std::to_string(options_.list_page_size)}}};
    if (!marker.empty()) call.query.emplace_back("part-number-marker", marker);
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute(std::move(call)));
    if (r.status == 404) return std::optional<uint64_t>();
    if (!Is2xx(r.status)) return Err(ErrorOf(r, what));
    auto page = ParsePartsPage(r.body);
    if (!page.has_value()) return Err(Status::IoError(what + ": " + page.error().message()));
    bytes += page->bytes;
    marker = page->truncated ? page->next_part_marker : std::string();
  } while (!marker.empty());
  return std::optional<uint64_t>(bytes);
}

Status S3Transport::RemoveLeftover(const LeftoverTemporary& leftover) {
  FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute({.method = "DELETE",
                                                  .key = KeyOf(leftover.name),
                                                  .query = {{"uploadId", leftover.upload_id}}}));
  if (Is2xx(r.status) || r.status == 404) return Status();
  return ErrorOf(r, "abort an unfinished upload of " + UriOf(leftover.name));
}

Status S3Transport::Remove(std::string_view name) {
  Call call{.method = "DELETE", .key = KeyOf(name)};
  if (impl_->retention) {
    // A versioned bucket: find the current version, and leave it alone while it is retained.
    FERRY_ASSIGN_OR_RETURN(HttpResponse head, Execute({.method = "HEAD", .key = KeyOf(name)}));
    if (head.status == 404) return Status();
    if (!Is2xx(head.status)) return ErrorOf(head, "delete " + UriOf(name));
    FERRY_ASSIGN_OR_RETURN(SystemTime until, RetainUntilOf(head, UriOf(name)));
    if (until > std::chrono::system_clock::now()) {
      return Status::PermissionDenied(
          fmt::format("cannot delete {}: it is under Object Lock ({}) until {}", UriOf(name),
                      head.Header("x-amz-object-lock-mode"), Rfc3339Seconds(until)));
    }
    const std::string_view version = head.Header("x-amz-version-id");
    if (!version.empty() && version != "null") {
      call.query.emplace_back("versionId", std::string(version));
    }
  }
  FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute(std::move(call)));
  if (Is2xx(r.status) || r.status == 404) return Status();
  return ErrorOf(r, "delete " + UriOf(name));
}

Status S3Transport::RemoveMany(const std::vector<std::string>& names) {
  // A versioned bucket under retention: each object's current version, and whether it may go,
  // come from a HEAD of its own (Remove), so there is nothing to batch.
  if (impl_->retention) return Transport::RemoveMany(names);
  const size_t batch = std::clamp<size_t>(options_.delete_batch, 1, kMaxDeleteBatch);
  const size_t batches = (names.size() + batch - 1) / batch;
  return ParallelFor(batches, options_.parallelism, [&](size_t b) -> Status {
    std::vector<std::string> keys;
    for (size_t i = b * batch; i < std::min(names.size(), (b + 1) * batch); ++i) {
      keys.push_back(KeyOf(names[i]));
    }
    const std::string body = DeleteObjectsXml(keys);
    // S3 wants the body's MD5 on DeleteObjects (a damaged list could delete the wrong objects).
    FERRY_ASSIGN_OR_RETURN(HttpResponse r,
                           Execute({.method = "POST",
                                    .query = {{"delete", ""}},
                                    .headers = {{"Content-MD5", Md5Base64(AsBytes(body))}},
                                    .body = AsBytes(body)}));
    const std::string what =
        fmt::format("delete {} objects ({} ...)", keys.size(), UriOf(names[b * batch]));
    if (!Is2xx(r.status)) return ErrorOf(r, what);
    auto errors = ParseDeleteResult(r.body);
    if (!errors) return Status::IoError(what + ": " + errors.error().message());
    for (const DeleteError& e : *errors) {
      if (e.code == "NoSuchKey") continue;  // Gone already: what was wanted.
      const std::string text = fmt::format("delete s3://{}/{}: {}{}{}", impl_->location.bucket,
                                           e.key, e.code, e.message.empty() ? "" : ": ", e.message);
      if (e.code == "AccessDenied") return Status::PermissionDenied(text);
      return Status::IoError(text);
    }
    return Status();
  });
}

Status S3Transport::SetObjectLockPolicy(const ObjectLockPolicy& policy) {
  if (policy.period <= std::chrono::seconds(0)) {
    return Status::InvalidArgument("an Object Lock retention period must be positive");
  }
  FERRY_ASSIGN_OR_RETURN(HttpResponse r,
                         Execute({.method = "GET", .query = {{"object-lock", ""}}}));
  const std::string bucket = "s3://" + impl_->location.bucket;
  if (!Is2xx(r.status)) {
    const ErrorBody e = ParseErrorBody(r.body);
    if (r.status == 404 && e.code != "NoSuchBucket") {
      return Status::NotSupported(fmt::format(
          "{} does not have Object Lock enabled ({}); S3 can enable it only when a bucket is "
          "created (create-bucket --object-lock-enabled-for-bucket)",
          bucket, e.code.empty() ? "no configuration" : e.code));
    }
    if (r.status == 400 || r.status == 501) {
      return Status::NotSupported(
          fmt::format("the S3 server at {} does not implement Object Lock "
                      "(HTTP {} {})",
                      impl_->location.endpoint, r.status, e.code));
    }
    return ErrorOf(r, "Object Lock configuration of " + bucket);
  }
  auto enabled = XmlElement(r.body, "ObjectLockEnabled");
  if (!enabled.has_value() || *enabled != "Enabled") {
    // A server that ignores the ?object-lock subresource answers with something else (s3rver
    // lists the bucket).
    return Status::NotSupported(fmt::format(
        "the S3 server at {} did not confirm Object Lock for {} (no ObjectLockEnabled in its "
        "answer): it does not implement Object Lock, or the bucket was created without it",
        impl_->location.endpoint, bucket));
  }
  impl_->retention = policy;
  return Status();
}

std::optional<SystemTime> S3Transport::RetentionFor(std::string_view name) const {
  const auto& policy = impl_->retention;
  if (!policy) return std::nullopt;
  for (const std::string& prefix : policy->exempt_prefixes) {
    if (name.starts_with(prefix)) return std::nullopt;
  }
  return std::chrono::system_clock::now() + policy->period;
}

void S3Transport::AddRetentionHeaders(
    std::optional<SystemTime> until, ByteView body,
    std::vector<std::pair<std::string, std::string>>* headers) const {
  if (!until) return;
  headers->emplace_back("x-amz-object-lock-mode", std::string(ModeName(impl_->retention->mode)));
  headers->emplace_back("x-amz-object-lock-retain-until-date", Rfc3339Seconds(*until));
  headers->emplace_back("Content-MD5", Md5Base64(body));
}

Result<SystemTime> S3Transport::RetainedUntil(std::string_view name) {
  FERRY_ASSIGN_OR_RETURN(HttpResponse r, Execute({.method = "HEAD", .key = KeyOf(name)}));
  if (r.status == 404) return Err(Status::NotFound(UriOf(name) + " does not exist"));
  if (!Is2xx(r.status)) return Err(ErrorOf(r, "retention of " + UriOf(name)));
  return RetainUntilOf(r, UriOf(name));
}

Status S3Transport::ExtendRetention(std::string_view name, SystemTime until) {
  if (!impl_->retention) return Transport::ExtendRetention(name, until);
  const std::string xml = fmt::format(
      "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode>"
      "<RetainUntilDate>{}</RetainUntilDate></Retention>",
      ModeName(impl_->retention->mode), Rfc3339Seconds(until));
  FERRY_ASSIGN_OR_RETURN(HttpResponse r,
                         Execute({.method = "PUT",
                                  .key = KeyOf(name),
                                  .query = {{"retention", ""}},
                                  .headers = {{"Content-MD5", Md5Base64(AsBytes(xml))}},
                                  .body = AsBytes(xml)}));
  if (!Is2xx(r.status)) return ErrorOf(r, "extend the retention of " + UriOf(name));
  return Status();
}

namespace {

// An object written piece by piece. Small objects are kept in memory and go up in one PUT at
// Commit; past the threshold a multipart upload starts, and each full part is sent while the
// writer goes on (at most parts_in_flight at once). Destroyed uncommitted, it aborts the upload.
class S3ObjectWriter final : public ObjectWriter {
 public:
  S3ObjectWriter(S3Transport& t, std::string name, uint64_t size_hint)
      : t_(t), name_(std::move(name)), size_hint_(size_hint) {}

  ~S3ObjectWriter() override {
    if (has_buffer_) t_.ReturnBuffer(std::move(buffer_));
    if (upload_id_.empty() || committed_) return;
    for (auto& f : in_flight_) f.wait();
    // Best effort: a server without AbortMultipartUpload keeps the parts, which are invisible
    // to readers and listings either way.
    (void)t_.Execute(
        {.method = "DELETE", .key = t_.KeyOf(name_), .query = {{"uploadId", upload_id_}}});
  }

  Status Append(ByteView data) override {
    FERRY_RETURN_IF_ERROR(failed_);
    if (!has_buffer_) {
      // Room for the whole object (or its first parts), so appends never copy it again. (Not
      // decided by the string's capacity: an empty std::string has room for 15 bytes.)
      const uint64_t want = size_hint_ != 0 ? size_hint_ : t_.options().part_size;
      TakeBuffer(static_cast<size_t>(
          std::min<uint64_t>(want, t_.options().multipart_threshold + t_.options().part_size)));
    }
    buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
    size_ += data.size();
    if (upload_id_.empty() && buffer_.size() >= t_.options().multipart_threshold) {
      FERRY_RETURN_IF_ERROR(StartMultipart());
    }
    const size_t part_size = static_cast<size_t>(t_.options().part_size);
    while (!upload_id_.empty() && buffer_.size() >= part_size) {
      // The buffer itself becomes the part; only what overshoots it is copied to a new one.
      std::string rest = buffer_.substr(part_size);
      buffer_.resize(part_size);
      FERRY_RETURN_IF_ERROR(SendPart(ReleaseBuffer()));
      TakeBuffer(part_size);
      buffer_.append(rest);
    }
    return Status();
  }

  Status Commit() override {
    FERRY_RETURN_IF_ERROR(failed_);
    if (upload_id_.empty()) {
      FERRY_RETURN_IF_ERROR(t_.Put(name_, AsBytes(buffer_)));
      committed_ = true;
      return Status();
    }
    if (!buffer_.empty() || parts_.empty()) FERRY_RETURN_IF_ERROR(SendPart(ReleaseBuffer()));
    while (!in_flight_.empty()) FERRY_RETURN_IF_ERROR(WaitOldest());
    std::sort(parts_.begin(), parts_.end(),
              [](const CompletedPart& a, const CompletedPart& b) { return a.number < b.number; });
    const std::string xml = CompleteMultipartXml(parts_);
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, t_.Execute({.method = "POST",
                                                       .key = t_.KeyOf(name_),
                                                       .query = {{"uploadId", upload_id_}},
                                                       .body = AsBytes(xml)}));
    if (r.status == 404 && ParseErrorBody(r.body).code == "NoSuchUpload") {
      FERRY_ASSIGN_OR_RETURN(const bool completed, CompletedUnseen());
      if (completed) r = HttpResponse{.status = 200, .headers = {}, .body = {}};
    }
    // CompleteMultipartUpload can fail after "200 OK", with an <Error> body.
    if (!(r.status >= 200 && r.status < 300) || r.body.find("<Error>") != std::string::npos) {
      if (r.status >= 200 && r.status < 300) r.status = 500;
      return t_.ErrorOf(r, "complete upload of " + t_.UriOf(name_));
    }
    committed_ = true;
    if (retain_until_) return t_.ExtendRetention(name_, *retain_until_);
    return Status();
  }

  uint64_t size() const override { return size_; }

 private:
  // buffer_ from the transport's pool, and back out of the writer (to go up as a part, which
  // returns it to the pool when done): has_buffer_ says which buffer_ is the pool's.
  void TakeBuffer(size_t capacity) {
    buffer_ = t_.TakeBuffer(capacity);
    has_buffer_ = true;
  }
  std::string ReleaseBuffer() {
    has_buffer_ = false;
    return std::move(buffer_);
  }

  // Whether the object stands complete with this writer's size and part count. Asked when
  // CompleteMultipartUpload answers 404 NoSuchUpload for an upload that took our parts: an
  // earlier sending of the request (a retry's, or libcurl's own resend on a reused connection)
  // may have completed it, which is why it is gone, with the answer lost. The name is this
  // writer's alone (content-addressed or fresh), so nobody else made such an object.
  Result<bool> CompletedUnseen() {
    FERRY_ASSIGN_OR_RETURN(HttpResponse head,
                           t_.Execute({.method = "HEAD", .key = t_.KeyOf(name_)}));
    if (!Is2xx(head.status) || head.Header("content-length") != std::to_string(size_)) {
      return false;
    }
    // AWS names a multipart object's ETag "<digest>-<parts>"; servers that hash the whole
    // object (s3rver) have no suffix.
    std::string_view etag = head.Header("etag");
    if (!etag.empty() && etag.back() == '"') etag.remove_suffix(1);
    const size_t dash = etag.rfind('-');
    return dash == std::string_view::npos || etag.substr(dash + 1) == std::to_string(parts_.size());
  }

  Status StartMultipart() {
    S3Transport::Call call{.method = "POST",
                           .key = t_.KeyOf(name_),
                           .query = {{"uploads", ""}},
                           .headers = {{"x-amz-checksum-algorithm", "SHA256"}}};
    retain_until_ = t_.RetentionFor(name_);
    t_.AddRetentionHeaders(retain_until_, {}, &call.headers);
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, t_.Execute(std::move(call)));
    const std::string what = "start upload of " + t_.UriOf(name_);
    if (!(r.status >= 200 && r.status < 300)) return t_.ErrorOf(r, what);
    auto id = XmlElement(r.body, "UploadId");
    if (!id.has_value() || id->empty()) {
      return Status::IoError(what + ": the answer has no UploadId");
    }
    upload_id_ = std::move(*id);
    return Status();
  }

  Status SendPart(std::string part) {
    while (in_flight_.size() >= t_.options().parts_in_flight) FERRY_RETURN_IF_ERROR(WaitOldest());
    const unsigned number = next_part_++;
    in_flight_.push_back(
        std::async(std::launch::async, [this, number, part = std::move(part)]() mutable {
          auto done = UploadPart(number, part);
          t_.ReturnBuffer(std::move(part));
          return done;
        }));
    return Status();
  }

  Result<CompletedPart> UploadPart(unsigned number, const std::string& part) {
    const Digest digest = Sha256Of(AsBytes(part));
    S3Transport::Call call{
        .method = "PUT",
        .key = t_.KeyOf(name_),
        .query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id_}},
        .headers = {{"x-amz-checksum-sha256", digest.base64}},
        .body = AsBytes(part),
        .body_sha256 = digest.hex};
    if (retain_until_) call.headers.emplace_back("Content-MD5", Md5Base64(AsBytes(part)));
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, t_.Execute(std::move(call)));
    const std::string what = fmt::format("upload part {} of {}", number, t_.UriOf(name_));
    if (!(r.status >= 200 && r.status < 300)) return Err(t_.ErrorOf(r, what));
    CompletedPart done{number, std::string(r.Header("etag")), digest.base64};
    if (done.etag.empty()) return Err(Status::IoError(what + ": the answer has no ETag"));
    return done;
  }

  Status WaitOldest() {
    auto done = in_flight_.front().get();
    in_flight_.pop_front();
    if (!done.has_value()) {
      failed_ = done.error();
      return failed_;
    }
    parts_.push_back(std::move(*done));
    return Status();
  }

  S3Transport& t_;
  const std::string name_;
  const uint64_t size_hint_;
  std::string buffer_;
  bool has_buffer_ = false;  // buffer_ was taken from the transport (and goes back to it).
  uint64_t size_ = 0;
  std::string upload_id_;
  std::optional<SystemTime> retain_until_;  // Of the multipart upload, under Object Lock.
  unsigned next_part_ = 1;
  std::deque<std::future<Result<CompletedPart>>> in_flight_;
  std::vector<CompletedPart> parts_;
  Status failed_;
  bool committed_ = false;
};

}  // namespace

Result<std::unique_ptr<ObjectWriter>> S3Transport::Create(std::string_view name,
                                                          uint64_t size_hint) {
  return std::unique_ptr<ObjectWriter>(new S3ObjectWriter(*this, std::string(name), size_hint));
}

}  // namespace ferry::s3
