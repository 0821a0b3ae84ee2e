#include "transports/s3/curl_library.h"

#include <fmt/format.h>

#include "common/shared_library.h"

namespace ferry::s3 {
namespace {

// libcurl's soname has been .4 since 7.16 (2006), 8.x included.
static_assert(LIBCURL_VERSION_MAJOR == 7 || LIBCURL_VERSION_MAJOR == 8);
constexpr char kSoname[] = "libcurl.so.4";

Result<CurlLibrary> Load() {
  FERRY_ASSIGN_OR_RETURN(SharedLibrary lib, SharedLibrary::Open(kSoname, "S3 repositories"));
  CurlLibrary c;
  for (Status s : {
           lib.Bind("curl_global_init", &c.global_init),
           lib.Bind("curl_easy_init", &c.easy_init),
           lib.Bind("curl_easy_setopt", &c.easy_setopt),
           lib.Bind("curl_easy_getinfo", &c.easy_getinfo),
           lib.Bind("curl_easy_reset", &c.easy_reset),
           lib.Bind("curl_easy_cleanup", &c.easy_cleanup),
           lib.Bind("curl_easy_strerror", &c.easy_strerror),
           lib.Bind("curl_multi_init", &c.multi_init),
           lib.Bind("curl_multi_setopt", &c.multi_setopt),
           lib.Bind("curl_multi_add_handle", &c.multi_add_handle),
           lib.Bind("curl_multi_remove_handle", &c.multi_remove_handle),
           lib.Bind("curl_multi_perform", &c.multi_perform),
           lib.Bind("curl_multi_poll", &c.multi_poll),
           lib.Bind("curl_multi_wakeup", &c.multi_wakeup),
           lib.Bind("curl_multi_info_read", &c.multi_info_read),
           lib.Bind("curl_multi_cleanup", &c.multi_cleanup),
           lib.Bind("curl_slist_append", &c.slist_append),
           lib.Bind("curl_slist_free_all", &c.slist_free_all),
       }) {
    FERRY_RETURN_IF_ERROR(s);
  }
  // Not thread-safe in libcurl itself: done here, once, under the static's initialisation.
  if (const CURLcode code = c.global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
    return Err(
        Status::IoError(fmt::format("libcurl failed to initialise: {}", c.easy_strerror(code))));
  }
  return c;
}

}  // namespace

Result<const CurlLibrary*> LoadCurl() { return LoadOnce<CurlLibrary, Load>(); }

}  // namespace ferry::s3
