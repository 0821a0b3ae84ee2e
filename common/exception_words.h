// ExceptionWords: what a library's exception says, in words fit for a user's error message.
//
// nlohmann::json (the one library ferry calls that throws) starts every message with a tag such
// as "[json.exception.out_of_range.403] ", which tells a user nothing; the words after it name
// the key or the position at fault.
#pragma once

#include <exception>
#include <string>
#include <string_view>

namespace ferry {

inline std::string ExceptionWords(const std::exception& e) {
  std::string_view words = e.what();
  if (words.starts_with("[json.exception.")) {
    if (const size_t end = words.find("] "); end != std::string_view::npos) {
      words.remove_prefix(end + 2);
    }
  }
  return std::string(words);
}

}  // namespace ferry
