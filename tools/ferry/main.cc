// ferry: the command-line shell over libferry. It parses arguments, runs one library job, prints
// its results and maps errors to exit codes; it holds no logic of its own.
#include <cstdio>
#include <exception>

#include <signal.h>

#include "common/malloc_tuning.h"

#include "tools/ferry/commands.h"

namespace ferry::cli {

CancelToken& GlobalCancel() {
  static CancelToken token;
  return token;
}

void PrintError(const std::string& message) {
  std::fprintf(stderr, "ferry: %s\n", message.c_str());
}

namespace {
// The first SIGINT or SIGTERM cancels the job, which stops at its next check and leaves the
// repository as a crash would at worst. A second one ends the process at once, for a job stuck
// where no check comes (a write to a pipe nobody reads, a server that stopped answering).
void OnSignal(int sig) {
  if (GlobalCancel().cancelled()) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  GlobalCancel().Cancel();
}
}  // namespace

}  // namespace ferry::cli

int main(int argc, char** argv) {
  using namespace ferry::cli;  // NOLINT(google-build-using-namespace): main only.
  // Chunk and pack buffers reused rather than faulted in anew (common/malloc_tuning.h).
  ferry::KeepLargeBuffersInHeap();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  CLI::App app{"ferry: fast, deduplicated, encrypted backup of volumes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ferry 0.1.0");
  int exit_code = kExitOk;
  RegisterChunkCommand(app, &exit_code);
  RegisterChangesCommand(app, &exit_code);
  RegisterRepoCommands(app, &exit_code);
  RegisterMaintenanceCommands(app, &exit_code);
  RegisterKeyCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const std::exception& e) {
    PrintError(std::string("internal error: ") + e.what());
    return kExitFailure;
  }
  return exit_code;
}
