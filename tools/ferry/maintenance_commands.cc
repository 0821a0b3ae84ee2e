// ferry forget | prune | repair index: keeping a repository's size in check and its index
// whole (docs/FORMAT.md §14).
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/origin.h"

#include "engine/prune.h"
#include "engine/repair_index.h"
#include "engine/retention.h"
#include "tools/ferry/commands.h"
#include "tools/ferry/layout_commands.h"
#include "tools/ferry/repo_access.h"
#include "tools/ferry/repo_args.h"
#include "tools/ferry/terminal.h"

namespace ferry::cli {

namespace {

using nlohmann::json;

json PruneJson(const PruneReport& r) {
  return {{"snapshots", r.snapshots},
          {"packs", r.packs},
          {"packs_unused", r.packs_unused},
          {"packs_repacked", r.packs_repacked},
          {"bytes_repacked", r.bytes_repacked},
          {"chunks_repacked", r.chunks_repacked},
          {"packs_deleted", r.packs_deleted},
          {"bytes_deleted", r.bytes_deleted},
          {"packs_revived", r.packs_revived},
          {"index_objects_rewritten", r.index_objects_rewritten},
          {"packs_retained", r.packs_retained},
          {"retention_extended", r.retention_extended},
          {"records_finished", r.records_finished},
          {"records_pending", r.records_pending},
          {"filter_bytes", r.filter_bytes},
          {"leftovers_removed", r.leftovers_removed},
          {"leftover_bytes_removed", r.leftover_bytes_removed},
          {"waiting", r.waiting},
          {"messages", r.messages}};
}

// Runs prune on an open repository with the progress line; the caller prints the report.
Result<PruneReport> RunPruneOn(Repository& repo, const PruneArgs& a) {
  PruneOptions o;
  o.repack_unused = a.repack_unused_percent / 100.0;
  o.dry_run = a.dry_run;
  o.cancel = &GlobalCancel();
  ProgressLine line;
  o.progress = [&](const Progress& p) { line.Update(p); };
  return Prune(repo, o);
}

void PrintPrune(const PruneReport& r, bool dry_run) {
  for (const auto& m : r.messages) std::printf("note: %s\n", m.c_str());
  for (const auto& w : r.waiting) std::printf("waiting: %s\n", w.c_str());
  std::printf("marked %lu snapshot(s): %lu of %lu pack(s) unused, %lu to repack\n",
              static_cast<unsigned long>(r.snapshots), static_cast<unsigned long>(r.packs_unused),
              static_cast<unsigned long>(r.packs), static_cast<unsigned long>(r.packs_repacked));
  if (dry_run) {
    if (r.leftovers_removed > 0) {
      std::printf("would delete %lu leftover(s) of killed writers (%s)\n",
                  static_cast<unsigned long>(r.leftovers_removed),
                  HumanBytes(static_cast<double>(r.leftover_bytes_removed)).c_str());
    }
    std::printf("dry run: nothing was written or deleted\n");
    return;
  }
  std::printf("repacked %lu chunk(s) (%s); deleted %lu pack(s) (%s)",
              static_cast<unsigned long>(r.chunks_repacked),
              HumanBytes(static_cast<double>(r.bytes_repacked)).c_str(),
              static_cast<unsigned long>(r.packs_deleted),
              HumanBytes(static_cast<double>(r.bytes_deleted)).c_str());
  if (r.records_pending > 0) {
    std::printf("; %lu prune record(s) left for the next prune, after the jobs above finish",
                static_cast<unsigned long>(r.records_pending));
  }
  std::printf("\n");
  if (r.leftovers_removed > 0) {
    std::printf("deleted %lu leftover(s) of killed writers (%s)\n",
                static_cast<unsigned long>(r.leftovers_removed),
                HumanBytes(static_cast<double>(r.leftover_bytes_removed)).c_str());
  }
  if (r.retention_extended > 0) {
    std::printf("extended the Object Lock of %lu object(s) live snapshots use\n",
                static_cast<unsigned long>(r.retention_extended));
  }
}

int RunPrune(const PruneArgs& a) {
  if (IsQcow2Layout(a.repo)) {
    return Fail(Status::InvalidArgument(
        "the qcow2 layout has nothing to prune: forget merges and deletes images itself"));
  }
  auto repo = OpenRepository(a.repo, false);
  if (!repo) return Fail(repo.error());
  auto r = RunPruneOn(**repo, a);
  if (!r) return Fail(r.error());
  if (a.json) {
    PrintJson(PruneJson(*r));
  } else {
    PrintPrune(*r, a.dry_run);
  }
  return kExitOk;
}

// forget SNAPSHOT…: the named snapshots.
Result<std::vector<repo::Snapshot>> Named(Repository& repo, const ForgetArgs& a) {
  std::vector<repo::Snapshot> snaps;
  for (const std::string& what : a.snapshots) {
    if (what.find(':') != std::string::npos) {
      return Err(Status::InvalidArgument(
          what + ": the deduplicated layout forgets whole snapshots (no :VOLUME)"));
    }
    FERRY_ASSIGN_OR_RETURN(auto snap, repo.ResolveSnapshot(what));
    snaps.push_back(std::move(snap));
  }
  return snaps;
}

int RunForget(const ForgetArgs& a) {
  if (IsQcow2Layout(a.repo)) {
    if (a.policy_given() || a.prune) {
      return Fail(Status::InvalidArgument(
          "the qcow2 layout forgets named snapshots only (no --keep-* or --prune)"));
    }
    return RunLayoutForget(a);
  }
  if (a.snapshots.empty() == !a.policy_given()) {
    return Fail(Status::InvalidArgument(
        a.snapshots.empty() ? "name the snapshots to forget, or give a --keep-* policy (a count "
                              "above 0 or a --keep-tag: a policy that keeps nothing is refused; "
                              "name snapshots to forget them all)"
                            : "name snapshots or give a --keep-* policy, not both"));
  }
  auto repo = OpenRepository(a.repo, false);
  if (!repo) return Fail(repo.error());

  // Everything is decided before anything is forgotten.
  std::vector<RetentionGroup> groups;
  if (a.policy_given()) {
    auto by = ParseGroupBy(a.group_by);
    if (!by) return Fail(by.error());
    auto all = (*repo)->ListSnapshots();
    if (!all) return Fail(all.error());
    RetentionPolicy policy{a.keep_last,    a.keep_hourly, a.keep_daily, a.keep_weekly,
                           a.keep_monthly, a.keep_yearly, a.keep_tags};
    auto decided = ApplyRetention(std::move(*all), policy, *by);
    if (!decided) return Fail(decided.error());
    groups = std::move(*decided);
  } else {
    auto named = Named(**repo, a);
    if (!named) return Fail(named.error());
    RetentionGroup g;
    for (auto& s : *named) g.decisions.push_back({std::move(s), false, {"named"}});
    groups.push_back(std::move(g));
  }

  std::vector<std::string> forgotten;
  std::vector<std::string> retained;  // Under Object Lock: cannot be forgotten yet.
  json out_groups = json::array();
  for (const RetentionGroup& g : groups) {
    json decisions = json::array();
    if (!a.json && !g.key.empty()) std::printf("%s\n", g.key.c_str());
    for (RetentionDecision d : g.decisions) {
      const std::string id = d.snapshot.id.ToHex();
      bool locked = false;
      if (!d.keep && !a.dry_run) {
        // Object Lock outranks the policy: the snapshot stays until its lock ends.
        auto until = (*repo)->SnapshotLockedUntil(d.snapshot.id);
        if (!until) return Fail(until.error());
        locked = until->has_value();
        if (locked) {
          d.keep = true;
          d.reasons.push_back("under Object Lock until " + Rfc3339Seconds(**until));
          retained.push_back(id);
        } else if (Status st = (*repo)->ForgetSnapshot(d.snapshot.id); !st.ok()) {
          return Fail(st);
        }
      }
      if (!d.keep) forgotten.push_back(id);
      decisions.push_back(
          {{"id", id}, {"time", d.snapshot.time}, {"keep", d.keep}, {"reasons", d.reasons}});
      if (!a.json) {
        std::printf("  %s %s  %s  %s\n",
                    locked   ? "locked      "
                    : d.keep ? "keep        "
                             : (a.dry_run ? "would forget" : "forget      "),
                    Short(d.snapshot.id).c_str(), d.snapshot.time.c_str(),
                    fmt::format("{}", fmt::join(d.reasons, ", ")).c_str());
      }
    }
    out_groups.push_back({{"group", g.key}, {"snapshots", decisions}});
  }
  json out = {{"groups", out_groups},
              {a.dry_run ? "would_forget" : "forgotten", forgotten},
              {"retained", retained},
              {"dry_run", a.dry_run}};
  if (!a.json) {
    std::printf("%zu snapshot(s) %s\n", forgotten.size(),
                a.dry_run ? "would be forgotten (dry run)" : "forgotten");
    if (!retained.empty()) {
      std::printf("%zu snapshot(s) kept: still under Object Lock\n", retained.size());
    }
  }
  if (!a.policy_given() && !retained.empty()) {
    if (a.json) PrintJson(out);
    return Fail(Status::PermissionDenied(fmt::format(
        "{} of the named snapshot(s) are still under Object Lock and stay", retained.size())));
  }
  if (a.prune && !a.dry_run) {
    auto r = RunPruneOn(**repo, a.prune_args);
    if (!r) return Fail(r.error());
    if (a.json) {
      out["prune"] = PruneJson(*r);
    } else {
      PrintPrune(*r, false);
    }
  } else if (!a.json && !a.dry_run && !forgotten.empty()) {
    std::printf("their data stays in the packs until `ferry prune`\n");
  }
  if (a.json) PrintJson(out);
  return kExitOk;
}

int RunRepairIndex(const RepoArgs& args, bool as_json) {
  auto repo = OpenRepository(args, false);
  if (!repo) return Fail(repo.error());
  RepairIndexOptions o;
  o.cancel = &GlobalCancel();
  auto r = RepairIndex(**repo, o);
  if (!r) return Fail(r.error());
  if (as_json) {
    PrintJson({{"packs", r->packs},
               {"packs_unreadable", r->packs_unreadable},
               {"entries", r->entries},
               {"entries_carried", r->entries_carried},
               {"entries_dropped", r->entries_dropped},
               {"index_objects_written", r->index_objects_written},
               {"index_objects_removed", r->index_objects_removed},
               {"messages", r->messages}});
  } else {
    for (const auto& m : r->messages) std::printf("note: %s\n", m.c_str());
    std::printf(
        "index rebuilt from %lu pack(s): %lu entries in %lu index object(s), replacing %lu; %lu "
        "pack(s) unreadable (%lu old entries kept), %lu entries naming missing packs dropped\n",
        static_cast<unsigned long>(r->packs), static_cast<unsigned long>(r->entries),
        static_cast<unsigned long>(r->index_objects_written),
        static_cast<unsigned long>(r->index_objects_removed),
        static_cast<unsigned long>(r->packs_unreadable),
        static_cast<unsigned long>(r->entries_carried),
        static_cast<unsigned long>(r->entries_dropped));
  }
  return kExitOk;
}

void AddPruneOptions(CLI::App* c, PruneArgs* a) {
  c->add_option("--repack-unused", a->repack_unused_percent,
                "Repack packs at least this % unused (default 25; 100 = only delete wholly "
                "unused packs)")
      ->check(CLI::Range(0.0, 100.0));
}

}  // namespace

void RegisterMaintenanceCommands(CLI::App& app, int* exit_code) {
  {
    auto a = std::make_shared<ForgetArgs>();
    CLI::App* c = app.add_subcommand(
        "forget",
        "Forget snapshots by name or by a --keep-* policy (qcow2 layout: merges into successors)");
    AddRepoOptions(c, &a->repo);
    c->add_option("snapshots", a->snapshots,
                  "Snapshot ids, unique prefixes or latest; qcow2 layout: [:VOLUME], and none "
                  "to finish interrupted work");
    c->add_option("--keep-last", a->keep_last, "Keep the N newest snapshots of each group");
    c->add_option("--keep-hourly", a->keep_hourly, "Keep the newest of each of the last N hours");
    c->add_option("--keep-daily", a->keep_daily, "... of each of the last N days (UTC)");
    c->add_option("--keep-weekly", a->keep_weekly, "... of each of the last N ISO weeks");
    c->add_option("--keep-monthly", a->keep_monthly, "... of each of the last N months");
    c->add_option("--keep-yearly", a->keep_yearly, "... of each of the last N years");
    c->add_option("--keep-tag", a->keep_tags, "Keep every snapshot with this tag (repeatable)");
    c->add_option("--group-by", a->group_by,
                  "Apply the policy per group: host, volumes, tags, comma-separated, or '' for "
                  "one group (default host,volumes)");
    c->add_flag("--dry-run", a->dry_run, "Show what would be kept and forgotten, and why");
    c->add_flag("--prune", a->prune, "Prune afterwards");
    AddPruneOptions(c, &a->prune_args);
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([a, exit_code] { *exit_code = RunForget(*a); });
  }
  {
    auto a = std::make_shared<PruneArgs>();
    CLI::App* c = app.add_subcommand(
        "prune", "Delete data no snapshot uses (safe while backups run; they never wait)");
    AddRepoOptions(c, &a->repo);
    AddPruneOptions(c, a.get());
    c->add_flag("--dry-run", a->dry_run, "Show what would be repacked and deleted");
    c->add_flag("--json", a->json, "Print JSON");
    c->callback([a, exit_code] { *exit_code = RunPrune(*a); });
  }
  {
    auto args = std::make_shared<RepoArgs>();
    auto as_json = std::make_shared<bool>(false);
    CLI::App* repair = app.add_subcommand("repair", "Repair a repository");
    repair->require_subcommand(1);
    CLI::App* c = repair->add_subcommand("index", "Rebuild the index from the pack headers");
    AddRepoOptions(c, args.get());
    c->add_flag("--json", *as_json, "Print JSON");
    c->callback([args, as_json, exit_code] { *exit_code = RunRepairIndex(*args, *as_json); });
  }
}

}  // namespace ferry::cli
