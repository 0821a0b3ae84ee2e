// CurlLibrary: the libcurl functions the S3 client calls, loaded on first use.
//
// libcurl and its dependencies are loaded only when a command opens an S3 repository
// (common/shared_library.h says why). Everything else about libcurl — types, constants, the
// header — stays as usual; only calls go through this table.
//
// Thread-safety: LoadCurl() may be called from any thread; the table never changes once loaded.
#pragma once

#include <curl/curl.h>

#include "common/result.h"

namespace ferry::s3 {

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
};

// libcurl (libcurl.so.4), loaded and initialised (curl_global_init) once per process.
// Errors: kNotSupported naming the library or function that could not be loaded; the same
// error on every later call.
Result<const CurlLibrary*> LoadCurl();

}  // namespace ferry::s3
