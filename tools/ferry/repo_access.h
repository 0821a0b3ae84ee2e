// How the CLI finds and opens a repository: --repo or FERRY_REPO, and the passphrase from the
// first of --password-file, FERRY_PASSWORD, FERRY_PASSWORD_FILE, or a prompt when stdin is a
// terminal.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/repo_lock.h"
#include "engine/repository.h"

namespace ferry::cli {

struct RepoArgs {
  std::string repo;
  std::string password_file;
};

// Adds --repo and --password-file to `cmd`.
void AddRepoOptions(CLI::App* cmd, RepoArgs* args);

// The transport for args.repo (a local directory for now). With `create`, makes the directory.
Result<std::unique_ptr<Transport>> OpenTransport(const RepoArgs& args, bool create);

// The passphrase, from the sources above in that order. With `confirm` (init), a prompt asks
// twice. Errors: kInvalidArgument when there is no source and no terminal to ask on.
Result<std::string> ReadPassphrase(const RepoArgs& args, bool confirm);

// A new passphrase (ferry key add/passwd): from `file` if given, else FERRY_NEW_PASSWORD, else
// a prompt that asks twice. Errors: kInvalidArgument for an empty one, for prompts that differ,
// and when there is no source and no terminal to ask on.
Result<std::string> ReadNewPassphrase(const std::string& file);

// Opens the repository (asking for the passphrase only if it is encrypted).
Result<std::unique_ptr<Repository>> OpenRepository(const RepoArgs& args, bool load_index = false);

// Announces a reader (restore, stats) with a read lock, so no prune deletes what it reads, and
// loads the index preferring packs no prune is deleting (docs/FORMAT.md §14.2). Keep the lock
// until done; destroy it before the repository.
Result<std::unique_ptr<RepoLock>> LockAndLoadIndex(Repository& repository);

}  // namespace ferry::cli
