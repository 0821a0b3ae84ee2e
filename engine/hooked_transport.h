// HookedTransport: a transport for engine tests that wraps another (the local one) and runs test
// code inside its reads, to change the repository between a listing and a read or to make reads
// as slow as a remote transport's, and says it keeps many requests in flight, as S3 does.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transports/transport.h"

namespace ferry::testing {

class HookedTransport final : public Transport {
 public:
  explicit HookedTransport(std::unique_ptr<Transport> inner) : inner_(std::move(inner)) {}

  std::function<void(std::string_view name, bool exclusive)> before_put;  // Inside each Put.
  std::function<void(std::string_view name)> before_create;               // Inside each Create.
  // Inside each Put and Create: an error it returns is the call's answer (a full disk, a
  // read-only repository).
  std::function<Status(std::string_view name)> write_error;
  std::function<void(std::string_view name)> before_get;  // Runs inside each Get.
  std::function<void()> around_read;  // Runs inside each ReadAt, before the read.
  std::function<void(std::string_view name)> before_remove;  // Runs inside each Remove.
  std::function<void(std::string_view prefix)> before_list;  // Inside each listing.
  std::atomic<int> gets{0};
  std::atomic<int> sizes{0};  // Size() calls: a HEAD each over S3.
  std::atomic<int> reads{0};  // ReadAt() calls.
  std::atomic<int> reads_in_flight{0};
  std::atomic<int> most_reads_in_flight{0};  // The most ReadAt calls ever at once.

  // Raises `most` to `now` if it is lower (for counting what is ever in flight at once).
  static void RecordMost(int now, std::atomic<int>& most) {
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
  }

  TransportCapabilities capabilities() const override {
    TransportCapabilities c = inner_->capabilities();
    c.parallelism = 8;
    return c;
  }
  std::string Describe() const override { return inner_->Describe(); }
  Status Put(std::string_view name, ByteView data, bool exclusive = false) override {
    if (before_put) before_put(name, exclusive);
    if (write_error) FERRY_RETURN_IF_ERROR(write_error(name));
    return inner_->Put(name, data, exclusive);
  }
  Result<std::unique_ptr<ObjectWriter>> Create(std::string_view name, uint64_t hint) override {
    if (before_create) before_create(name);
    if (write_error) FERRY_RETURN_IF_ERROR(write_error(name));
    return inner_->Create(name, hint);
  }
  Result<std::string> Get(std::string_view name) override {
    ++gets;
    if (before_get) before_get(name);
    return inner_->Get(name);
  }
  Result<size_t> ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) override {
    ++reads;
    RecordMost(++reads_in_flight, most_reads_in_flight);
    if (around_read) around_read();
    auto n = inner_->ReadAt(name, offset, dst);
    --reads_in_flight;
    return n;
  }
  Result<uint64_t> Size(std::string_view name) override {
    ++sizes;
    return inner_->Size(name);
  }
  Result<std::vector<std::string>> List(std::string_view prefix) override {
    if (before_list) before_list(prefix);
    return inner_->List(prefix);
  }
  Result<std::vector<ListedObject>> ListWithSizes(std::string_view prefix) override {
    if (before_list) before_list(prefix);
    return inner_->ListWithSizes(prefix);
  }
  Status Remove(std::string_view name) override {
    if (before_remove) before_remove(name);
    return inner_->Remove(name);
  }

 private:
  std::unique_ptr<Transport> inner_;
};

}  // namespace ferry::testing
