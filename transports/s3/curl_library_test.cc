// The typed setopt wrappers: wrong value types are rejected at compile time (the static_asserts
// below are the test), and the options are passed through to a real libcurl handle.
#include "transports/s3/curl_library.h"

#include <gtest/gtest.h>

namespace ferry::s3 {
namespace {

size_t Write(char*, size_t, size_t n, void*) { return n; }
using WrongWrite = size_t (*)(const char*, size_t, size_t, void*);  // const: not libcurl's.

static_assert(CurlOptionTakes<CURLOPT_BUFFERSIZE, long>);
static_assert(!CurlOptionTakes<CURLOPT_BUFFERSIZE, int>, "a long option needs a long");
static_assert(!CurlOptionTakes<CURLOPT_BUFFERSIZE, curl_off_t*>);
static_assert(CurlOptionTakes<CURLOPT_URL, const char*>);
static_assert(!CurlOptionTakes<CURLOPT_URL, long>, "a string option needs a pointer");
static_assert(CurlOptionTakes<CURLOPT_WRITEDATA, void*>);
static_assert(CurlOptionTakes<CURLOPT_WRITEFUNCTION, decltype(&Write)>);
static_assert(!CurlOptionTakes<CURLOPT_WRITEFUNCTION, WrongWrite>,
              "a callback must have libcurl's exact signature");
static_assert(!CurlOptionTakes<CURLOPT_WRITEFUNCTION, void*>, "data is not a callback");
static_assert(!CurlOptionTakes<CURLOPT_WRITEDATA, decltype(&Write)>, "a callback is not data");
static_assert(CurlOptionTakes<CURLOPT_INFILESIZE_LARGE, curl_off_t>);
static_assert(!CurlOptionTakes<CURLOPT_INFILESIZE_LARGE, int>, "an off_t option needs curl_off_t");
static_assert(CurlOptionTakes<CURLMOPT_MAXCONNECTS, long>);
static_assert(!CurlOptionTakes<CURLMOPT_MAXCONNECTS, unsigned>);

TEST(CurlLibraryTest, TypedOptionsReachARealHandle) {
  auto curl = LoadCurl();
  ASSERT_TRUE(curl.has_value()) << curl.error().ToString();
  const CurlLibrary& c = **curl;
  CURL* easy = c.easy_init();
  ASSERT_NE(easy, nullptr);
  EXPECT_EQ(c.SetOpt<CURLOPT_URL>(easy, "http://127.0.0.1:9/x"), CURLE_OK);
  EXPECT_EQ(c.SetOpt<CURLOPT_BUFFERSIZE>(easy, 64L << 10), CURLE_OK);
  EXPECT_EQ(c.SetOpt<CURLOPT_WRITEFUNCTION>(easy, &Write), CURLE_OK);
  EXPECT_EQ(c.SetOpt<CURLOPT_INFILESIZE_LARGE>(easy, curl_off_t{5}), CURLE_OK);
  // The value gets there: one libcurl refuses is refused.
  EXPECT_EQ(c.SetOpt<CURLOPT_MAXREDIRS>(easy, -2L), CURLE_BAD_FUNCTION_ARGUMENT);
  c.easy_cleanup(easy);
  CURLM* multi = c.multi_init();
  ASSERT_NE(multi, nullptr);
  EXPECT_EQ(c.SetMultiOpt<CURLMOPT_MAXCONNECTS>(multi, 4L), CURLM_OK);
  c.multi_cleanup(multi);
}

}  // namespace
}  // namespace ferry::s3
