// FanOut: every item consumed once, each worker with its own state, and the first error of a
// producer, an opener or a consumer ending the rest.
#include "engine/fan_out.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace ferry {
namespace {

struct Counter {
  std::thread::id thread;
  uint64_t consumed = 0;
};

// Pushes 0 … n-1 until a push is refused; counts what it pushed.
std::function<Status(const std::function<bool(uint64_t)>&)> Numbers(uint64_t n,
                                                                    std::atomic<uint64_t>* pushed) {
  return [n, pushed](const std::function<bool(uint64_t)>& push) {
    for (uint64_t i = 0; i < n && push(i); ++i) ++*pushed;
    return Status();
  };
}

TEST(FanOutTest, EveryItemIsConsumedOnceByWorkersWithStatesOfTheirOwn) {
  std::atomic<uint64_t> pushed{0}, sum{0}, opened{0};
  Status s = FanOut<uint64_t, Counter>(
      4, Numbers(10000, &pushed),
      [&]() -> Result<Counter> {
        ++opened;
        return Counter{std::this_thread::get_id(), 0};
      },
      [&](Counter& c, uint64_t& item) {
        EXPECT_EQ(c.thread, std::this_thread::get_id()) << "a state used by another thread";
        sum += item;
        ++c.consumed;
        return Status();
      });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(pushed.load(), 10000u);
  EXPECT_EQ(sum.load(), 10000u * 9999u / 2);
  EXPECT_EQ(opened.load(), 4u);
}

TEST(FanOutTest, TheFirstErrorStopsTheProducerAndIsReturned) {
  std::atomic<uint64_t> pushed{0};
  Status consumer = FanOut<uint64_t, int>(
      3, Numbers(1000000, &pushed), []() -> Result<int> { return 0; },
      [](int&, uint64_t& item) {
        return item == 50 ? Status::IoError("read 50 failed") : Status();
      });
  EXPECT_EQ(consumer.message(), "read 50 failed");
  EXPECT_LT(pushed.load(), 1000000u) << "the producer went on after the failure";

  pushed = 0;
  Status opener = FanOut<uint64_t, int>(
      2, Numbers(1000000, &pushed),
      []() -> Result<int> { return Err(Status::NotFound("no such image")); },
      [](int&, uint64_t&) { return Status(); });
  EXPECT_EQ(opener.message(), "no such image");
  EXPECT_LT(pushed.load(), 1000000u);

  std::atomic<uint64_t> consumed{0};
  Status producer = FanOut<uint64_t, int>(
      2,
      [](const std::function<bool(uint64_t)>& push) {
        push(1);
        return Status::Cancelled("cancelled");
      },
      []() -> Result<int> { return 0; },
      [&](int&, uint64_t&) {
        ++consumed;
        return Status();
      });
  EXPECT_EQ(producer.code(), Status::Code::kCancelled);
  EXPECT_LE(consumed.load(), 1u);
}

}  // namespace
}  // namespace ferry
