// Where and when a backup was made (as snapshots record it) or a key file was added.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

// Now, in UTC with microseconds and a fixed width ("2026-11-22T03:04:05.123456Z"), so that
// string order is time order even for backups taken within one second ("latest" must mean the
// last one).
std::string NowRfc3339();
// `when` in that form (times after 1970 only).
std::string Rfc3339(std::chrono::system_clock::time_point when);
// `when` to the second, as S3 dates are and as messages read best ("2026-11-22T03:04:05Z").
std::string Rfc3339Seconds(std::chrono::system_clock::time_point when);

// Parses the form NowRfc3339() writes (the fraction optional); nullopt for anything else,
// and for years outside 1970-2261 (what the system clock can hold).
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

// This machine's host name (empty if it has none).
std::string LocalHostname();
// The name of the user this process runs as ($USER if the password database has none; empty
// if neither does).
std::string LocalUsername();

}  // namespace ferry
