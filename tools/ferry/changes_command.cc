// ferry changes --cbt SPEC SOURCE: prints what a change source reports for a volume, as the
// sorted, merged ranges an incremental backup would use ("offset length" per line, or JSON).
// For checking a change tracker against the truth, and for scripts that feed other tools.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cbt/cbt_spec.h"
#include "engine/volume_source.h"
#include "tools/ferry/commands.h"

namespace ferry::cli {

namespace {

struct ChangesArgs {
  std::string cbt;
  std::string source;
  bool json = false;
};

int RunChanges(const ChangesArgs& a) {
  auto spec = cbt::ParseCbtSpec(a.cbt);
  if (!spec) {
    PrintError(spec.error().message());
    return kExitUsage;
  }
  if (spec->kind == cbt::CbtKind::kHash) {
    PrintError("--cbt hash compares with a backup: it has no change list of its own");
    return kExitUsage;
  }
  auto changes = cbt::LoadChangedBlocks(*spec, a.source, &GlobalCancel());
  if (!changes) {
    PrintError(changes.error().message());
    return changes.error().IsInvalidArgument() ? kExitUsage : kExitFailure;
  }
  if (!changes->untrusted.empty()) {
    PrintError("not to be trusted: " + changes->untrusted);
    return kExitFailure;
  }
  // As a backup would: ranges of another volume, or past this one's end, are refused.
  auto volume = VolumeSource::Open(a.source, {});
  if (!volume) {
    PrintError(volume.error().message());
    return kExitFailure;
  }
  if (Status fits = (*volume)->is_pipe()
                        ? Status()
                        : cbt::ValidateForVolume(*changes, (*volume)->size(), spec->ToString());
      !fits.ok()) {
    PrintError(fits.message());
    return kExitUsage;
  }
  if (a.json) {
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto& r : changes->ranges)
      ranges.push_back({{"offset", r.offset}, {"length", r.length}});
    nlohmann::json out = {
        {"cbt", spec->ToString()}, {"ranges", ranges}, {"bytes", cbt::TotalBytes(changes->ranges)}};
    if (changes->volume_size) out["volume_size"] = *changes->volume_size;
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& r : changes->ranges) {
      std::printf("%llu %llu\n", static_cast<unsigned long long>(r.offset),
                  static_cast<unsigned long long>(r.length));
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterChangesCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<ChangesArgs>();
  CLI::App* c =
      app.add_subcommand("changes", "Print the changed ranges a change source reports for SOURCE");
  c->add_option("source", a->source,
                "The volume (file, device, QCOW2 image or NBD URI) the changes belong to")
      ->required()
      ->check(kNonEmptyPath);
  c->add_option("--cbt", a->cbt,
                "list:FILE, csi:FILE, qcow2-bitmap:NAME, nbd-bitmap:NAME or fiemap:PREVIOUS_COPY")
      ->required();
  c->add_flag("--json", a->json, "Print JSON");
  c->callback([a, exit_code] { *exit_code = RunChanges(*a); });
}

}  // namespace ferry::cli
