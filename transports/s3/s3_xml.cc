#include "transports/s3/s3_xml.h"

#include <charconv>

#include <fmt/format.h>

namespace ferry::s3 {
namespace {

// Appends the UTF-8 encoding of `cp`.
bool AppendUtf8(uint32_t cp, std::string* out) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return true;
}

Result<std::string> Unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const size_t amp = text.find('&');
    out.append(text.substr(0, amp));
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp);
    const size_t semi = text.find(';');
    if (semi == std::string_view::npos || semi > 12) {
      return Err(Status::Corruption("XML: unterminated entity"));
    }
    const std::string_view entity = text.substr(1, semi - 1);
    text.remove_prefix(semi + 1);
    if (entity == "amp") {
      out.push_back('&');
    } else if (entity == "lt") {
      out.push_back('<');
    } else if (entity == "gt") {
      out.push_back('>');
    } else if (entity == "quot") {
      out.push_back('"');
    } else if (entity == "apos") {
      out.push_back('\'');
    } else if (entity.size() >= 2 && entity[0] == '#') {
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      uint32_t cp = 0;
      const auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          !AppendUtf8(cp, &out)) {
        return Err(Status::Corruption(fmt::format("XML: bad character reference &{};", entity)));
      }
    } else {
      return Err(Status::Corruption(fmt::format("XML: unknown entity &{};", entity)));
    }
  }
  return out;
}

}  // namespace

namespace {

// Every <tag>…</tag> element's content: unescaped text, or (raw) the markup as it stands, for
// elements whose children are read next.
Result<std::vector<std::string>> Elements(std::string_view xml, std::string_view tag, bool raw) {
  const std::string open = fmt::format("<{}>", tag);
  const std::string empty = fmt::format("<{}/>", tag);
  const std::string close = fmt::format("</{}>", tag);
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t a = xml.find(open, pos);
    const size_t e = xml.find(empty, pos);
    if (e != std::string_view::npos && (a == std::string_view::npos || e < a)) {
      out.emplace_back();
      pos = e + empty.size();
      continue;
    }
    if (a == std::string_view::npos) break;
    const size_t start = a + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string_view::npos) {
      return Err(Status::Corruption(fmt::format("XML: <{}> is not closed", tag)));
    }
    const std::string_view content = xml.substr(start, end - start);
    if (raw) {
      out.emplace_back(content);
    } else {
      FERRY_ASSIGN_OR_RETURN(std::string value, Unescape(content));
      out.push_back(std::move(value));
    }
    pos = end + close.size();
  }
  return out;
}

// Whether a listing page says it is truncated, and then where the next page starts: the
// element `marker_tag`, which such a page must have.
Status ReadTruncation(std::string_view xml, std::string_view marker_tag, bool* truncated,
                      std::string* marker) {
  FERRY_ASSIGN_OR_RETURN(auto flags, Elements(xml, "IsTruncated", /*raw=*/false));
  *truncated = !flags.empty() && flags.front() == "true";
  if (!*truncated) return Status();
  FERRY_ASSIGN_OR_RETURN(auto markers, Elements(xml, marker_tag, /*raw=*/false));
  if (markers.empty() || markers.front().empty()) {
    return Status::Corruption(fmt::format("the listing is truncated but has no {}", marker_tag));
  }
  *marker = std::move(markers.front());
  return Status();
}

// A <Size> element's text as a number; `what` names the thing sized, for the error.
Result<uint64_t> ParseSize(const std::string& text, std::string_view what) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Err(Status::Corruption(fmt::format("the listing has {} of size '{}'", what, text)));
  }
  return n;
}

}  // namespace

Result<std::vector<std::string>> XmlElements(std::string_view xml, std::string_view tag) {
  return Elements(xml, tag, /*raw=*/false);
}

Result<std::string> XmlElement(std::string_view xml, std::string_view tag) {
  FERRY_ASSIGN_OR_RETURN(auto all, XmlElements(xml, tag));
  return all.empty() ? std::string() : std::move(all.front());
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '"':
        out.append("&quot;");
        break;
      case '\'':
        out.append("&apos;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<ListPage> ParseListPage(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    return Err(Status::Corruption("the listing is not a ListBucketResult"));
  }
  ListPage page;
  FERRY_ASSIGN_OR_RETURN(auto contents, Elements(xml, "Contents", /*raw=*/true));
  for (const std::string& c : contents) {
    ListedKey object;
    FERRY_ASSIGN_OR_RETURN(object.key, XmlElement(c, "Key"));
    if (object.key.empty())
      return Err(Status::Corruption("the listing has an object without a key"));
    FERRY_ASSIGN_OR_RETURN(std::string size, XmlElement(c, "Size"));
    FERRY_ASSIGN_OR_RETURN(object.size, ParseSize(size, "object " + object.key));
    page.objects.push_back(std::move(object));
  }
  FERRY_RETURN_IF_ERROR(
      ReadTruncation(xml, "NextContinuationToken", &page.truncated, &page.next_token));
  return page;
}

Result<UploadsPage> ParseUploadsPage(std::string_view xml) {
  if (xml.find("<ListMultipartUploadsResult") == std::string_view::npos) {
    return Err(Status::Corruption("the listing is not a ListMultipartUploadsResult"));
  }
  UploadsPage page;
  FERRY_ASSIGN_OR_RETURN(auto uploads, Elements(xml, "Upload", /*raw=*/true));
  for (const std::string& u : uploads) {
    MultipartUpload upload;
    FERRY_ASSIGN_OR_RETURN(upload.key, XmlElement(u, "Key"));
    FERRY_ASSIGN_OR_RETURN(upload.upload_id, XmlElement(u, "UploadId"));
    FERRY_ASSIGN_OR_RETURN(upload.initiated, XmlElement(u, "Initiated"));
    if (upload.key.empty() || upload.upload_id.empty()) {
      return Err(Status::Corruption("the listing has an upload without a key or an upload id"));
    }
    page.uploads.push_back(std::move(upload));
  }
  FERRY_RETURN_IF_ERROR(
      ReadTruncation(xml, "NextKeyMarker", &page.truncated, &page.next_key_marker));
  // Empty for a page that ends between two keys.
  FERRY_ASSIGN_OR_RETURN(page.next_upload_id_marker, XmlElement(xml, "NextUploadIdMarker"));
  return page;
}

Result<PartsPage> ParsePartsPage(std::string_view xml) {
  if (xml.find("<ListPartsResult") == std::string_view::npos) {
    return Err(Status::Corruption("the listing is not a ListPartsResult"));
  }
  PartsPage page;
  FERRY_ASSIGN_OR_RETURN(auto parts, Elements(xml, "Part", /*raw=*/true));
  for (const std::string& p : parts) {
    FERRY_ASSIGN_OR_RETURN(std::string size, XmlElement(p, "Size"));
    FERRY_ASSIGN_OR_RETURN(uint64_t n, ParseSize(size, "a part"));
    page.bytes += n;
  }
  FERRY_RETURN_IF_ERROR(
      ReadTruncation(xml, "NextPartNumberMarker", &page.truncated, &page.next_part_marker));
  return page;
}

ErrorBody ParseErrorBody(std::string_view xml) {
  ErrorBody e;
  if (xml.find("<Error>") == std::string_view::npos) return e;
  auto code = XmlElement(xml, "Code");
  auto message = XmlElement(xml, "Message");
  if (code.has_value()) e.code = *code;
  if (message.has_value()) e.message = *message;
  return e;
}

std::string CompleteMultipartXml(const std::vector<CompletedPart>& parts) {
  std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const CompletedPart& p : parts) {
    xml.append(fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>", p.number,
                           XmlEscape(p.etag)));
    if (!p.checksum_sha256.empty()) {
      xml.append(fmt::format("<ChecksumSHA256>{}</ChecksumSHA256>", p.checksum_sha256));
    }
    xml.append("</Part>");
  }
  xml.append("</CompleteMultipartUpload>");
  return xml;
}

std::string DeleteObjectsXml(const std::vector<std::string>& keys) {
  std::string xml = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
  for (const std::string& key : keys) {
    xml.append("<Object><Key>").append(XmlEscape(key)).append("</Key></Object>");
  }
  xml.append("</Delete>");
  return xml;
}

Result<std::vector<DeleteError>> ParseDeleteResult(std::string_view xml) {
  if (xml.find("<DeleteResult") == std::string_view::npos) {
    return Err(Status::Corruption("the answer is not a DeleteResult"));
  }
  std::vector<DeleteError> out;
  FERRY_ASSIGN_OR_RETURN(auto errors, Elements(xml, "Error", /*raw=*/true));
  for (const std::string& e : errors) {
    DeleteError d;
    FERRY_ASSIGN_OR_RETURN(d.key, XmlElement(e, "Key"));
    FERRY_ASSIGN_OR_RETURN(d.code, XmlElement(e, "Code"));
    FERRY_ASSIGN_OR_RETURN(d.message, XmlElement(e, "Message"));
    if (d.key.empty()) return Err(Status::Corruption("the answer has an error that names no key"));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace ferry::s3
