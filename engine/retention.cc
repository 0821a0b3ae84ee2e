#include "engine/retention.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <fmt/format.h>

#include "common/origin.h"

namespace ferry {

namespace {

std::string GroupKey(const repo::Snapshot& s, const GroupBy& by) {
  std::vector<std::string> parts;
  if (by.host) parts.push_back("host=" + s.hostname);
  if (by.volumes) {
    std::vector<std::string> names;
    for (const auto& v : s.volumes) names.push_back(v.name);
    std::sort(names.begin(), names.end());
    parts.push_back(fmt::format("volumes={}", fmt::join(names, ",")));
  }
  if (by.tags) {
    std::vector<std::string> tags = s.tags;
    std::sort(tags.begin(), tags.end());
    parts.push_back(fmt::format("tags={}", fmt::join(tags, ",")));
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

// One kind of calendar bucket: the snapshot's bucket name under strftime `format`.
struct Bucket {
  const char* reason;
  const char* format;
  unsigned count;
};

}  // namespace

Result<GroupBy> ParseGroupBy(std::string_view text) {
  GroupBy by{false, false, false};
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view key = text.substr(0, comma);
    if (key == "host") {
      by.host = true;
    } else if (key == "volumes" || key == "volume") {
      by.volumes = true;
    } else if (key == "tags") {
      by.tags = true;
    } else if (!key.empty()) {
      return Err(Status::InvalidArgument(
          fmt::format("cannot group by '{}' (use host, volumes, tags)", key)));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return by;
}

Result<std::vector<RetentionGroup>> ApplyRetention(std::vector<repo::Snapshot> snapshots,
                                                   const RetentionPolicy& policy,
                                                   const GroupBy& group_by) {
  if (policy.empty()) {
    return Err(Status::InvalidArgument(
        "no --keep-* option given: forget by policy needs at least one (it would remove every "
        "snapshot)"));
  }
  std::sort(snapshots.begin(), snapshots.end(), [](const auto& a, const auto& b) {
    return a.time != b.time ? a.time > b.time : a.id > b.id;
  });
  std::map<std::string, RetentionGroup> groups;
  for (auto& s : snapshots) {
    const std::string key = GroupKey(s, group_by);
    RetentionGroup& g = groups[key];
    g.key = key;
    g.decisions.push_back({std::move(s), false, {}});
  }
  const Bucket buckets[] = {{"hourly", "%Y-%m-%d %H", policy.hourly},
                            {"daily", "%Y-%m-%d", policy.daily},
                            {"weekly", "%G-W%V", policy.weekly},
                            {"monthly", "%Y-%m", policy.monthly},
                            {"yearly", "%Y", policy.yearly}};
  std::vector<RetentionGroup> out;
  for (auto& [key, g] : groups) {
    unsigned kept_last = 0;
    unsigned used[std::size(buckets)] = {};
    std::string last_bucket[std::size(buckets)];
    for (RetentionDecision& d : g.decisions) {
      const auto when = ParseRfc3339(d.snapshot.time);
      if (!when) {
        return Err(Status::InvalidArgument(fmt::format("snapshot {}: its time '{}' cannot be read",
                                                       d.snapshot.id.ToHex().substr(0, 8),
                                                       d.snapshot.time)));
      }
      const std::time_t t = std::chrono::system_clock::to_time_t(*when);
      std::tm tm{};
      gmtime_r(&t, &tm);
      if (kept_last < policy.last) {
        ++kept_last;
        d.reasons.push_back("last");
      }
      for (size_t b = 0; b < std::size(buckets); ++b) {
        if (used[b] >= buckets[b].count) continue;
        char name[32];
        std::strftime(name, sizeof(name), buckets[b].format, &tm);
        // Newest first: the first snapshot seen in a bucket is its newest.
        if (name == last_bucket[b]) continue;
        last_bucket[b] = name;
        ++used[b];
        d.reasons.push_back(fmt::format("{} {}", buckets[b].reason, name));
      }
      for (const std::string& tag : policy.tags) {
        if (std::find(d.snapshot.tags.begin(), d.snapshot.tags.end(), tag) !=
            d.snapshot.tags.end()) {
          d.reasons.push_back("tag " + tag);
        }
      }
      d.keep = !d.reasons.empty();
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace ferry
