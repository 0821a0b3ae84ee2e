// ferry key list | add | remove | passwd: the passphrases that open a repository
// (engine/repo_keys.h). Each key file wraps the same master key, so none of these touches data.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "engine/repo_keys.h"
#include "tools/ferry/commands.h"
#include "tools/ferry/layout_commands.h"
#include "tools/ferry/repo_args.h"

namespace ferry::cli {

namespace {

struct KeyArgs {
  RepoArgs repo;
  std::string new_password_file;
  std::string id;  // remove: a key id or a unique prefix.
  bool json = false;
};

// The repository, opened for key management: the qcow2 layout has no keys at all.
Result<std::unique_ptr<Repository>> OpenForKeys(const KeyArgs& a) {
  if (IsQcow2Layout(a.repo)) {
    return Err(Status::InvalidArgument(
        "the qcow2 layout is not encrypted and has no keys: its images open without ferry"));
  }
  return OpenRepository(a.repo, false);
}

// A key file's label field, or "-" where the key file has none (written before labels).
std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

int RunKeyList(const KeyArgs& a) {
  auto repo = OpenForKeys(a);
  if (!repo) return Fail(repo.error());
  auto keys = ListKeys(**repo);
  if (!keys) return Fail(keys.error());
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const KeyInfo& k : *keys) {
      out.push_back({{"id", k.id.ToHex()},
                     {"current", k.current},
                     {"created", k.label.created},
                     {"hostname", k.label.hostname},
                     {"username", k.label.username}});
    }
    PrintJson(out);
    return kExitOk;
  }
  std::printf("  %-8s  %-27s  %-16s  %s\n", "ID", "CREATED", "HOST", "USER");
  for (const KeyInfo& k : *keys) {
    std::printf("%s %-8s  %-27s  %-16s  %s\n", k.current ? "*" : " ", Short(k.id).c_str(),
                OrDash(k.label.created).c_str(), OrDash(k.label.hostname).c_str(),
                OrDash(k.label.username).c_str());
  }
  std::printf("%zu key(s); * opened this time\n", keys->size());
  return kExitOk;
}

// The repository and the new passphrase for it (key add, key passwd). The repository is
// opened first: a wrong passphrase fails before a new one is asked for.
struct NewKeyJob {
  std::unique_ptr<Repository> repo;
  std::string passphrase;
};
Result<NewKeyJob> OpenForNewKey(const KeyArgs& a) {
  NewKeyJob job;
  FERRY_ASSIGN_OR_RETURN(job.repo, OpenForKeys(a));
  FERRY_ASSIGN_OR_RETURN(job.passphrase, ReadNewPassphrase(a.new_password_file));
  return job;
}

int RunKeyAdd(const KeyArgs& a) {
  auto job = OpenForNewKey(a);
  if (!job) return Fail(job.error());
  auto id = AddKey(*job->repo, job->passphrase);
  if (!id) return Fail(id.error());
  std::printf("added key %s\n", Short(*id).c_str());
  return kExitOk;
}

int RunKeyPasswd(const KeyArgs& a) {
  auto job = OpenForNewKey(a);
  if (!job) return Fail(job.error());
  const repo::ObjectId old = job->repo->key_id();
  auto id = ChangePassphrase(*job->repo, job->passphrase, {});
  if (!id) return Fail(id.error());
  std::printf("added key %s for the new passphrase and removed key %s\n", Short(*id).c_str(),
              Short(old).c_str());
  return kExitOk;
}

int RunKeyRemove(const KeyArgs& a) {
  // An empty prefix would match every key.
  if (a.id.empty()) return Fail(Status::InvalidArgument("give the id of the key to remove"));
  auto repo = OpenForKeys(a);
  if (!repo) return Fail(repo.error());
  auto keys = ListKeys(**repo);
  if (!keys) return Fail(keys.error());
  const KeyInfo* match = nullptr;
  for (const KeyInfo& k : *keys) {
    if (!k.id.ToHex().starts_with(a.id)) continue;
    if (match != nullptr) {
      return Fail(Status::InvalidArgument(
          fmt::format("'{}' matches more than one key; give more of the id", a.id)));
    }
    match = &k;
  }
  if (match == nullptr) {
    return Fail(Status::NotFound(fmt::format("no key matches '{}' (ferry key list)", a.id)));
  }
  if (Status s = RemoveKey(**repo, match->id); !s.ok()) return Fail(s);
  std::printf("removed key %s\n", Short(match->id).c_str());
  return kExitOk;
}

void AddNewPassphraseOption(CLI::App* c, KeyArgs* a) {
  c->add_option("--new-password-file", a->new_password_file,
                "Read the new passphrase from this file (also FERRY_NEW_PASSWORD; else a prompt)")
      ->check(kNonEmptyPath);
}

}  // namespace

void RegisterKeyCommands(CLI::App& app, int* exit_code) {
  CLI::App* key = app.add_subcommand("key", "Passphrases: list, add, remove or change keys");
  key->require_subcommand(1);
  auto add = [&](const char* name, const char* help, int (*run)(const KeyArgs&)) {
    auto a = std::make_shared<KeyArgs>();
    CLI::App* c = key->add_subcommand(name, help);
    AddRepoOptions(c, &a->repo);
    c->callback([a, run, exit_code] { *exit_code = run(*a); });
    return std::pair{c, a};
  };
  {
    auto [c, a] = add("list", "List the keys; * marks the one the passphrase opened", RunKeyList);
    c->add_flag("--json", a->json, "Print JSON");
  }
  {
    auto [c, a] = add("add", "Add a key for another passphrase", RunKeyAdd);
    AddNewPassphraseOption(c, a.get());
  }
  {
    auto [c, a] = add("passwd", "Change the passphrase: add a key for the new one, remove this one",
                      RunKeyPasswd);
    AddNewPassphraseOption(c, a.get());
  }
  {
    auto [c, a] = add("remove", "Remove a key (not the one the passphrase opened)", RunKeyRemove);
    c->add_option("id", a->id, "Key id or a unique prefix (ferry key list)")->required();
  }
}

}  // namespace ferry::cli
