// The few S3 XML documents ferry reads and writes: ListObjectsV2 pages, error bodies,
// InitiateMultipartUpload results, the CompleteMultipartUpload request, the pages of
// ListMultipartUploads and ListParts (unfinished uploads, which prune aborts), and the
// DeleteObjects request and result (prune's deletions). These answers come
// from the network, so reading them is strict about structure and never trusts a length.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ferry::s3 {

// The text of every <tag>…</tag> element, in order, with the five predefined entities and
// numeric character references decoded. Nested markup inside an element is kept verbatim.
// Errors: kCorruption for an unterminated element or a malformed entity.
Result<std::vector<std::string>> XmlElements(std::string_view xml, std::string_view tag);

// The first <tag> element's text, or "" if there is none.
Result<std::string> XmlElement(std::string_view xml, std::string_view tag);

// `text` with &, <, >, " and ' escaped.
std::string XmlEscape(std::string_view text);

struct ListedKey {
  std::string key;
  uint64_t size = 0;

  bool operator==(const ListedKey&) const = default;
};

struct ListPage {
  std::vector<ListedKey> objects;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken, when truncated.
};

// A ListBucketResult: each <Contents>' key and size. Errors: kCorruption if it is not one, an
// object lacks its key or its size is not a number, or it says it is truncated without a
// continuation token.
Result<ListPage> ParseListPage(std::string_view xml);

struct MultipartUpload {
  std::string key;
  std::string upload_id;
  std::string initiated;  // RFC 3339, as the server wrote it.
};

struct UploadsPage {
  std::vector<MultipartUpload> uploads;
  bool truncated = false;
  std::string next_key_marker;  // When truncated.
  std::string next_upload_id_marker;
};

// A ListMultipartUploadsResult. Errors: kCorruption if it is not one, an upload lacks its key or
// id, or it says it is truncated without a next key marker.
Result<UploadsPage> ParseUploadsPage(std::string_view xml);

struct PartsPage {
  uint64_t bytes = 0;  // Of the parts on this page.
  bool truncated = false;
  std::string next_part_marker;  // NextPartNumberMarker, when truncated.
};

// A ListPartsResult. Errors: kCorruption if it is not one, a part's size is not a number, or it
// says it is truncated without a next marker.
Result<PartsPage> ParsePartsPage(std::string_view xml);

struct ErrorBody {
  std::string code;  // "SignatureDoesNotMatch"; "" when the body is not an S3 error.
  std::string message;
};

// Best effort: an error response's <Code> and <Message>; empty fields when absent or garbled.
ErrorBody ParseErrorBody(std::string_view xml);

struct CompletedPart {
  unsigned number = 0;
  std::string etag;             // As the server returned it, quotes included.
  std::string checksum_sha256;  // Base64.
};

std::string CompleteMultipartXml(const std::vector<CompletedPart>& parts);

// The body of a DeleteObjects request for `keys` (S3 takes at most 1000), in quiet mode: the
// answer lists only what could not be deleted.
std::string DeleteObjectsXml(const std::vector<std::string>& keys);

struct DeleteError {
  std::string key;
  std::string code;  // "AccessDenied"; may be empty when the server says nothing more.
  std::string message;
};

// A DeleteResult: the keys that could not be deleted. Errors: kCorruption if it is not one, or
// an error names no key.
Result<std::vector<DeleteError>> ParseDeleteResult(std::string_view xml);

}  // namespace ferry::s3
