// S3 XML fuzz target: listings and error bodies come from the network. Any bytes must either
// fail cleanly or give keys that survive escaping and parsing again unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "transports/s3/s3_xml.h"

namespace s3 = ferry::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)s3::ParseErrorBody(xml);
  auto page = s3::ParseListPage(xml);
  if (!page) return 0;
  if (page->truncated && page->next_token.empty()) std::abort();
  std::string again = "<ListBucketResult>";
  for (const std::string& key : page->keys) again += "<Key>" + s3::XmlEscape(key) + "</Key>";
  again += "</ListBucketResult>";
  auto reparsed = s3::ParseListPage(again);
  if (!reparsed || reparsed->keys != page->keys) std::abort();
  return 0;
}
