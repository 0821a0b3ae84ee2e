// The ferry subcommands. Each Register*() adds its subcommand to the CLI11 app; the callback runs
// the library job and returns an exit code (see README "Exit codes").
#pragma once

#include <CLI/CLI.hpp>

#include "common/cancel.h"

namespace ferry::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCancelled = 130;

// Set by SIGINT/SIGTERM; every long-running command passes it to its job.
CancelToken& GlobalCancel();

// For arguments that name a path: an empty one (an unset shell variable, quoted) is bad usage,
// not a file called "".
inline const CLI::Validator kNonEmptyPath(
    [](const std::string& s) { return s.empty() ? std::string("an empty path") : std::string(); },
    "");

// Prints "ferry: <message>" to stderr.
void PrintError(const std::string& message);

void RegisterChunkCommand(CLI::App& app, int* exit_code);
void RegisterChangesCommand(CLI::App& app, int* exit_code);
void RegisterRepoCommands(CLI::App& app, int* exit_code);
void RegisterMaintenanceCommands(CLI::App& app, int* exit_code);
void RegisterKeyCommands(CLI::App& app, int* exit_code);

}  // namespace ferry::cli
