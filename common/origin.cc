#include "common/origin.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <vector>

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

namespace ferry {

std::string Rfc3339(std::chrono::system_clock::time_point when) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
  const std::time_t t = static_cast<std::time_t>(since_epoch / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}Z", buf, since_epoch % 1'000'000);
}

std::string Rfc3339Seconds(std::chrono::system_clock::time_point when) {
  return Rfc3339(when).substr(0, 19) + "Z";
}

std::string NowRfc3339() { return Rfc3339(std::chrono::system_clock::now()); }

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS" then an optional ".ffffff" (1-9 digits) then "Z".
  if (text.size() < 20 || text.back() != 'Z') return std::nullopt;
  auto number = [&](size_t pos, size_t len, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  std::tm tm{};
  int year = 0, month = 0;
  if (!number(0, 4, &year) || text[4] != '-' || !number(5, 2, &month) || text[7] != '-' ||
      !number(8, 2, &tm.tm_mday) || text[10] != 'T' || !number(11, 2, &tm.tm_hour) ||
      text[13] != ':' || !number(14, 2, &tm.tm_min) || text[16] != ':' ||
      !number(17, 2, &tm.tm_sec)) {
    return std::nullopt;
  }
  // The clock counts nanoseconds in 64 bits, which ends in April 2262; later years would
  // overflow it.
  if (year < 1970 || year > 2261 || month < 1 || month > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  std::chrono::microseconds fraction{0};
  const std::string_view rest = text.substr(19, text.size() - 20);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    int64_t micros = 0;
    for (size_t i = 1; i < rest.size(); ++i) {
      if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
      if (i <= 6) micros = micros * 10 + (rest[i] - '0');
    }
    for (size_t i = rest.size(); i <= 6; ++i) micros *= 10;
    fraction = std::chrono::microseconds(micros);
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + fraction;
}

std::string LocalHostname() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

std::string LocalUsername() {
  std::vector<char> buffer(4096);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == 0 &&
      found != nullptr && found->pw_name != nullptr) {
    return found->pw_name;
  }
  const char* user = std::getenv("USER");
  return user != nullptr ? user : "";
}

}  // namespace ferry
