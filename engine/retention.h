// Retention: which snapshots a `forget` policy keeps, and why. Pure: decides, deletes nothing.
//
// Snapshots are grouped (by host and volume names by default); within a group, newest first,
// --keep-last N keeps the N newest, and each of --keep-hourly/daily/weekly/monthly/yearly N keeps
// the newest snapshot of each of the N most recent hours/days/ISO weeks/months/years that have
// one. --keep-tag keeps every snapshot carrying the tag. Times are UTC.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

#include "formats/repo/snapshot.h"

namespace ferry {

struct RetentionPolicy {
  unsigned last = 0;
  unsigned hourly = 0;
  unsigned daily = 0;
  unsigned weekly = 0;
  unsigned monthly = 0;
  unsigned yearly = 0;
  std::vector<std::string> tags;
  bool empty() const {
    return last + hourly + daily + weekly + monthly + yearly == 0 && tags.empty();
  }
};

struct GroupBy {
  bool host = true;
  bool volumes = true;
  bool tags = false;
};
// "host,volumes", "host", "tags", "" (one group). Errors: kInvalidArgument naming the key.
Result<GroupBy> ParseGroupBy(std::string_view text);

struct RetentionDecision {
  repo::Snapshot snapshot;
  bool keep = false;
  std::vector<std::string> reasons;  // "last", "daily 2026-11-22", "tag weekly", …
};

struct RetentionGroup {
  std::string key;                           // "host=h volumes=disk0" (empty parts left out).
  std::vector<RetentionDecision> decisions;  // Newest first.
};

// Errors: kInvalidArgument for an empty policy (it would forget everything) or a snapshot time
// that cannot be read.
Result<std::vector<RetentionGroup>> ApplyRetention(std::vector<repo::Snapshot> snapshots,
                                                   const RetentionPolicy& policy,
                                                   const GroupBy& group_by);

}  // namespace ferry
