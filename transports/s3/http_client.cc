#include "transports/s3/http_client.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "transports/s3/curl_library.h"

namespace ferry::s3 {

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

Result<HttpResponse> HttpClient::Send(HttpRequest request) {
  std::promise<Result<HttpResponse>> promise;
  auto future = promise.get_future();
  Start(std::move(request),
        [&promise](Result<HttpResponse> r) { promise.set_value(std::move(r)); });
  return future.get();
}

namespace {

// One request on its way: the easy handle's private data.
struct Transfer {
  HttpRequest request;
  HttpClient::Callback done;
  HttpResponse response;
  curl_slist* header_list = nullptr;
  size_t sent = 0;  // Of request.body.
  char error[CURL_ERROR_SIZE] = {};
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->request.sink.empty()) {
    t->response.body.append(data, n);
    return n;
  }
  const size_t room = t->request.sink.size() - t->response.sink_bytes;
  const size_t take = std::min(room, n);
  std::memcpy(t->request.sink.data() + t->response.sink_bytes, data, take);
  t->response.sink_bytes += take;
  t->response.overflow += n - take;
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // A new response (after "100 Continue" or a redirect).
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->response.headers.emplace_back(std::move(name), std::string(value));
  return n;
}

size_t OnReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = std::min(size * count, t->request.body.size() - t->sent);
  std::memcpy(buffer, t->request.body.data() + t->sent, n);
  t->sent += n;
  return n;
}

// libcurl rewinds the body when it must resend it (a reused connection that turned out dead).
int OnSeekBody(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->request.body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

bool IsTransient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient(const Options& options, const CurlLibrary& curl)
      : options_(options), curl_(curl) {}

  ~CurlHttpClient() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    curl_.multi_wakeup(multi_);
    if (loop_.joinable()) loop_.join();
    for (CURL* easy : idle_) curl_.easy_cleanup(easy);
    curl_.multi_cleanup(multi_);
  }

  Status Init() {
    multi_ = curl_.multi_init();
    if (multi_ == nullptr) return Status::IoError("libcurl: cannot create a multi handle");
    curl_.SetMultiOpt<CURLMOPT_MAX_TOTAL_CONNECTIONS>(multi_, long{options_.max_connections});
    curl_.SetMultiOpt<CURLMOPT_MAX_HOST_CONNECTIONS>(multi_, long{options_.max_connections});
    curl_.SetMultiOpt<CURLMOPT_MAXCONNECTS>(multi_, long{options_.max_connections});
    loop_ = std::thread([this] { Loop(); });
    return Status();
  }

  void Start(HttpRequest request, Callback done) override {
    auto t = std::make_unique<Transfer>();
    t->request = std::move(request);
    t->done = std::move(done);
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        queued_.push_back(std::move(t));
        t = nullptr;
      }
    }
    if (t != nullptr) {
      t->done(Err(Status::Cancelled("HTTP client is shutting down")));
      return;
    }
    curl_.multi_wakeup(multi_);
  }

 private:
  // Everything below runs on loop_.

  void Loop() {
    for (;;) {
      std::deque<std::unique_ptr<Transfer>> incoming;
      bool stopping;
      {
        std::lock_guard lock(mu_);
        incoming.swap(queued_);
        stopping = stopping_;
      }
      for (auto& t : incoming) Begin(std::move(t));
      if (stopping) break;
      int running = 0;
      curl_.multi_perform(multi_, &running);
      Reap();
      curl_.multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    // Shutting down: whatever is still in flight fails.
    for (auto& [easy, t] : active_) {
      curl_.multi_remove_handle(multi_, easy);
      Finish(easy, std::move(t), Err(Status::Cancelled("HTTP client is shutting down")));
    }
    active_.clear();
  }

  CURL* TakeEasy() {
    if (!idle_.empty()) {
      CURL* easy = idle_.back();
      idle_.pop_back();
      curl_.easy_reset(easy);
      return easy;
    }
    return curl_.easy_init();
  }

  void Begin(std::unique_ptr<Transfer> t) {
    CURL* easy = TakeEasy();
    if (easy == nullptr) {
      t->done(Err(Status::IoError("libcurl: cannot create a transfer for " + t->request.url)));
      return;
    }
    const HttpRequest& r = t->request;
    curl_.SetOpt<CURLOPT_URL>(easy, r.url.c_str());
    curl_.SetOpt<CURLOPT_NOSIGNAL>(easy, 1L);
    curl_.SetOpt<CURLOPT_TCP_NODELAY>(easy, 1L);
    curl_.SetOpt<CURLOPT_CONNECTTIMEOUT_MS>(easy,
                                            static_cast<long>(options_.connect_timeout.count()));
    curl_.SetOpt<CURLOPT_LOW_SPEED_LIMIT>(easy, 1024L);
    curl_.SetOpt<CURLOPT_LOW_SPEED_TIME>(easy, static_cast<long>(options_.stall_timeout.count()));
    curl_.SetOpt<CURLOPT_ERRORBUFFER>(easy, t->error);
    // Large buffers: fewer callbacks and syscalls per MiB of packs (the defaults are 16 KiB
    // down and 64 KiB up), yet small beside the packs in flight.
    curl_.SetOpt<CURLOPT_BUFFERSIZE>(easy, 512L << 10);
    curl_.SetOpt<CURLOPT_UPLOAD_BUFFERSIZE>(easy, 512L << 10);
    curl_.SetOpt<CURLOPT_WRITEFUNCTION>(easy, OnBody);
    curl_.SetOpt<CURLOPT_WRITEDATA>(easy, t.get());
    curl_.SetOpt<CURLOPT_HEADERFUNCTION>(easy, OnHeader);
    curl_.SetOpt<CURLOPT_HEADERDATA>(easy, t.get());
    curl_.SetOpt<CURLOPT_PRIVATE>(easy, t.get());
    if (r.method == "HEAD") {
      curl_.SetOpt<CURLOPT_NOBODY>(easy, 1L);
    } else if (r.method == "PUT" || r.method == "POST") {
      // A body of known size streamed from the caller's memory; POST via UPLOAD would send
      // PUT, so POST keeps its name with CUSTOMREQUEST.
      curl_.SetOpt<CURLOPT_UPLOAD>(easy, 1L);
      curl_.SetOpt<CURLOPT_INFILESIZE_LARGE>(easy, static_cast<curl_off_t>(r.body.size()));
      curl_.SetOpt<CURLOPT_READFUNCTION>(easy, OnReadBody);
      curl_.SetOpt<CURLOPT_READDATA>(easy, t.get());
      curl_.SetOpt<CURLOPT_SEEKFUNCTION>(easy, OnSeekBody);
      curl_.SetOpt<CURLOPT_SEEKDATA>(easy, t.get());
      if (r.method == "POST") curl_.SetOpt<CURLOPT_CUSTOMREQUEST>(easy, "POST");
    } else if (r.method != "GET") {
      curl_.SetOpt<CURLOPT_CUSTOMREQUEST>(easy, r.method.c_str());
    }
    for (const auto& [name, value] : r.headers) {
      t->header_list = curl_.slist_append(t->header_list, (name + ": " + value).c_str());
    }
    // No "Expect: 100-continue" round trip before a body; no default Content-Type.
    t->header_list = curl_.slist_append(t->header_list, "Expect:");
    if (r.method == "PUT" || r.method == "POST") {
      bool typed = false;
      for (const auto& h : r.headers) typed |= strcasecmp(h.first.c_str(), "content-type") == 0;
      if (!typed) t->header_list = curl_.slist_append(t->header_list, "Content-Type:");
    }
    curl_.SetOpt<CURLOPT_HTTPHEADER>(easy, t->header_list);
    if (curl_.multi_add_handle(multi_, easy) != CURLM_OK) {
      Finish(easy, std::move(t), Err(Status::IoError("libcurl: cannot start " + r.url)));
      return;
    }
    active_.emplace_back(easy, std::move(t));
  }

  void Reap() {
    int left = 0;
    while (CURLMsg* msg = curl_.multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      curl_.multi_remove_handle(multi_, easy);
      auto it = std::find_if(active_.begin(), active_.end(),
                             [easy](const auto& a) { return a.first == easy; });
      std::unique_ptr<Transfer> t = std::move(it->second);
      active_.erase(it);
      if (code != CURLE_OK) {
        const std::string what =
            fmt::format("{} {}: {}", t->request.method, t->request.url,
                        t->error[0] != '\0' ? t->error : curl_.easy_strerror(code));
        Finish(easy, std::move(t),
               Err(IsTransient(code) ? Status::Unavailable(what) : Status::IoError(what)));
        continue;
      }
      curl_.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->response.status);
      HttpResponse response = std::move(t->response);
      Finish(easy, std::move(t), std::move(response));
    }
  }

  void Finish(CURL* easy, std::unique_ptr<Transfer> t, Result<HttpResponse> outcome) {
    curl_.slist_free_all(t->header_list);
    t->header_list = nullptr;
    idle_.push_back(easy);
    t->done(std::move(outcome));
  }

  const Options options_;
  const CurlLibrary& curl_;
  CURLM* multi_ = nullptr;
  std::thread loop_;
  std::mutex mu_;
  std::deque<std::unique_ptr<Transfer>> queued_;                     // GUARDED_BY(mu_)
  bool stopping_ = false;                                            // GUARDED_BY(mu_)
  std::vector<std::pair<CURL*, std::unique_ptr<Transfer>>> active_;  // Loop thread only.
  std::vector<CURL*> idle_;                                          // Loop thread only.
};

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const Options& options) {
  FERRY_ASSIGN_OR_RETURN(const CurlLibrary* curl, LoadCurl());
  auto client = std::make_unique<CurlHttpClient>(options, *curl);
  FERRY_RETURN_IF_ERROR(client->Init());
  return std::unique_ptr<HttpClient>(std::move(client));
}

}  // namespace ferry::s3
