// S3 XML fuzz target: listings (of objects, unfinished uploads and their parts), error bodies
// and DeleteObjects results come from the network. Any bytes must either fail cleanly or give keys
// (and sizes) that survive escaping and parsing again unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "transports/s3/s3_xml.h"

namespace s3 = ferry::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)s3::ParseErrorBody(xml);
  if (auto failed = s3::ParseDeleteResult(xml)) {
    for (const s3::DeleteError& e : *failed) {
      if (e.key.empty()) std::abort();
    }
  }
  if (auto parts = s3::ParsePartsPage(xml); parts && parts->truncated) {
    if (parts->next_part_marker.empty()) std::abort();
  }
  if (auto uploads = s3::ParseUploadsPage(xml)) {
    if (uploads->truncated && uploads->next_key_marker.empty()) std::abort();
    std::string again = "<ListMultipartUploadsResult>";
    for (const s3::MultipartUpload& u : uploads->uploads) {
      if (u.key.empty() || u.upload_id.empty()) std::abort();
      again += "<Upload><Key>" + s3::XmlEscape(u.key) + "</Key><UploadId>" +
               s3::XmlEscape(u.upload_id) + "</UploadId></Upload>";
    }
    again += "</ListMultipartUploadsResult>";
    auto reparsed = s3::ParseUploadsPage(again);
    if (!reparsed || reparsed->uploads.size() != uploads->uploads.size()) std::abort();
    for (size_t i = 0; i < uploads->uploads.size(); ++i) {
      if (reparsed->uploads[i].key != uploads->uploads[i].key) std::abort();
    }
  }
  auto page = s3::ParseListPage(xml);
  if (!page) return 0;
  if (page->truncated && page->next_token.empty()) std::abort();
  std::string again = "<ListBucketResult>";
  for (const s3::ListedKey& o : page->objects) {
    if (o.key.empty()) std::abort();
    again += "<Contents><Key>" + s3::XmlEscape(o.key) + "</Key><Size>" + std::to_string(o.size) +
             "</Size></Contents>";
  }
  again += "</ListBucketResult>";
  auto reparsed = s3::ParseListPage(again);
  if (!reparsed || reparsed->objects != page->objects) std::abort();
  return 0;
}
