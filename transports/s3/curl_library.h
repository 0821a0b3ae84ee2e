// CurlLibrary: the libcurl functions the S3 client calls, loaded on first use.
//
// libcurl and its dependencies are loaded only when a command opens an S3 repository
// (common/shared_library.h says why). Everything else about libcurl — types, constants, the
// header — stays as usual; only calls go through this table.
//
// Thread-safety: LoadCurl() may be called from any thread; the table never changes once loaded.
#pragma once

#include <concepts>
#include <type_traits>

#include <curl/curl.h>

#include "common/result.h"

namespace ferry::s3 {

// Whether option `kOption` (a CURLoption or CURLMoption) takes a value of type T. libcurl
// numbers its options by the type of their value (curl.h's CURLOPTTYPE_* ranges); its own
// compile-time check of setopt arguments (typecheck-gcc.h) only sees direct calls, not calls
// through the table below, so SetOpt and SetMultiOpt check here instead.
template <auto kOption, typename T>
concept CurlOptionTakes = [] {
  constexpr long n = static_cast<long>(kOption);
  constexpr bool pointer = std::is_pointer_v<T>;
  constexpr bool function = pointer && std::is_function_v<std::remove_pointer_t<T>>;
  if (n < CURLOPTTYPE_OBJECTPOINT) return std::same_as<T, long>;
  if (n < CURLOPTTYPE_FUNCTIONPOINT) return pointer && !function;  // Strings, data, lists.
  if (n < CURLOPTTYPE_OFF_T) {
    // The callbacks we set must have libcurl's exact signature; others, any function.
    constexpr bool easy_option = std::same_as<decltype(kOption), CURLoption>;
    if (easy_option && (n == CURLOPT_WRITEFUNCTION || n == CURLOPT_HEADERFUNCTION)) {
      return std::same_as<T, curl_write_callback>;
    }
    if (easy_option && n == CURLOPT_READFUNCTION) return std::same_as<T, curl_read_callback>;
    if (easy_option && n == CURLOPT_SEEKFUNCTION) return std::same_as<T, curl_seek_callback>;
    return function;
  }
  if (n < CURLOPTTYPE_BLOB) return std::same_as<T, curl_off_t>;
  return false;
}();

struct CurlLibrary {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_reset) easy_reset = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_multi_init) multi_init = nullptr;
  decltype(&::curl_multi_setopt) multi_setopt = nullptr;
  decltype(&::curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&::curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&::curl_multi_perform) multi_perform = nullptr;
  decltype(&::curl_multi_poll) multi_poll = nullptr;
  decltype(&::curl_multi_wakeup) multi_wakeup = nullptr;
  decltype(&::curl_multi_info_read) multi_info_read = nullptr;
  decltype(&::curl_multi_cleanup) multi_cleanup = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;

  // curl_easy_setopt(easy, kOption, value) and curl_multi_setopt(multi, kOption, value), with
  // the value's type checked against the option's. Call these, not the two pointers above.
  template <CURLoption kOption, typename T>
  CURLcode SetOpt(CURL* easy, T value) const {
    static_assert(CurlOptionTakes<kOption, T>, "the value's type is not the option's");
    return easy_setopt(easy, kOption, value);
  }
  template <CURLMoption kOption, typename T>
  CURLMcode SetMultiOpt(CURLM* multi, T value) const {
    static_assert(CurlOptionTakes<kOption, T>, "the value's type is not the option's");
    return multi_setopt(multi, kOption, value);
  }
};

// libcurl (libcurl.so.4), loaded and initialised (curl_global_init) once per process.
// Errors: kNotSupported naming the library or function that could not be loaded; the same
// error on every later call.
Result<const CurlLibrary*> LoadCurl();

}  // namespace ferry::s3
