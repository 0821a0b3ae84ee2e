#include "tools/ferry/repo_access.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <termios.h>
#include <unistd.h>

#include "tools/ferry/commands.h"
#include "transports/local/local_transport.h"
#include "transports/nfs/nfs_transport.h"
#include "transports/s3/credentials.h"
#include "transports/s3/s3_transport.h"
#include "transports/uri.h"

namespace ferry::cli {

void AddRepoOptions(CLI::App* cmd, RepoArgs* args) {
  cmd->add_option("-r,--repo", args->repo,
                  "Repository: a directory, file:///path, s3://BUCKET/prefix?endpoint=URL&region=R "
                  "or nfs://HOST/export/path")
      ->envname("FERRY_REPO");
  cmd->add_option("--password-file", args->password_file,
                  "Read the passphrase from this file (also FERRY_PASSWORD_FILE)");
}

Result<std::unique_ptr<Transport>> OpenTransport(const RepoArgs& args, bool create) {
  if (args.repo.empty()) {
    return Err(Status::InvalidArgument("no repository given: use --repo or set FERRY_REPO"));
  }
  FERRY_ASSIGN_OR_RETURN(TransportUri uri, ParseTransportUri(args.repo));
  if (uri.kind == TransportKind::kS3) {
    FERRY_ASSIGN_OR_RETURN(s3::Credentials credentials,
                           s3::LoadCredentials([](const char* name) { return std::getenv(name); }));
    FERRY_ASSIGN_OR_RETURN(auto t, s3::S3Transport::Open(uri.s3, credentials));
    return std::unique_ptr<Transport>(std::move(t));
  }
  if (uri.kind == TransportKind::kNfs) {
    FERRY_ASSIGN_OR_RETURN(auto t, nfs::NfsTransport::Open(uri.nfs, create));
    return std::unique_ptr<Transport>(std::move(t));
  }
  const std::string& path = uri.local_path;
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Err(Status::FromErrno(ec.value(), "create " + path));
  }
  auto t = LocalTransport::Open(path);
  if (!t && t.error().IsNotFound()) {
    return Err(Status::NotFound("no ferry repository at " + path +
                                " (no such directory; run ferry init first)"));
  }
  if (!t) return Err(t.error());
  return std::unique_ptr<Transport>(std::move(*t));
}

namespace {

// The first line of `path`; an empty one is refused (a secret that was never mounted, a file
// truncated by mistake), naming the file rather than failing later as a wrong passphrase.
Result<std::string> ReadPassphraseFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Err(Status::FromErrno(errno, "password file " + path));
  std::string line;
  std::getline(in, line);
  if (line.empty()) {
    return Err(Status::InvalidArgument("password file " + path + ": its first line is empty"));
  }
  return line;
}

std::string Prompt(const char* text) {
  std::fprintf(stderr, "%s", text);
  std::fflush(stderr);
  termios old{};
  const bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::fprintf(stderr, "\n");
  return line;
}

// Asks on the terminal, twice with `confirm`; without a terminal, fails with `no_terminal`
// (which says how else to give it).
Result<std::string> AskOnTerminal(const char* prompt, bool confirm, const char* no_terminal) {
  if (isatty(STDIN_FILENO) != 1) return Err(Status::InvalidArgument(no_terminal));
  std::string first = Prompt(prompt);
  if (confirm && Prompt("enter it again: ") != first) {
    return Err(Status::InvalidArgument("the passphrases do not match"));
  }
  return first;
}

}  // namespace

Result<std::string> ReadPassphrase(const RepoArgs& args, bool confirm) {
  // The flag is the most explicit choice: it wins over the environment.
  if (!args.password_file.empty()) return ReadPassphraseFile(args.password_file);
  if (const char* p = std::getenv("FERRY_PASSWORD"); p != nullptr && *p != '\0') {
    return std::string(p);
  }
  if (const char* f = std::getenv("FERRY_PASSWORD_FILE"); f != nullptr && *f != '\0') {
    return ReadPassphraseFile(f);
  }
  return AskOnTerminal("enter passphrase: ", confirm,
                       "a passphrase is needed: set FERRY_PASSWORD or FERRY_PASSWORD_FILE, or "
                       "pass --password-file");
}

Result<std::string> ReadNewPassphrase(const std::string& file) {
  if (!file.empty()) return ReadPassphraseFile(file);
  if (const char* p = std::getenv("FERRY_NEW_PASSWORD"); p != nullptr && *p != '\0') {
    return std::string(p);
  }
  // (An empty one is refused by AddKey.)
  return AskOnTerminal("enter the new passphrase: ", true,
                       "a new passphrase is needed: set FERRY_NEW_PASSWORD or pass "
                       "--new-password-file");
}

Result<std::unique_ptr<Repository>> OpenRepository(const RepoArgs& args, bool load_index) {
  FERRY_ASSIGN_OR_RETURN(auto transport, OpenTransport(args, false));
  FERRY_ASSIGN_OR_RETURN(auto repo, Repository::Open(std::move(transport),
                                                     [&] { return ReadPassphrase(args, false); }));
  if (load_index) FERRY_RETURN_IF_ERROR(repo->LoadIndex());
  return repo;
}

Result<std::unique_ptr<RepoLock>> LockAndLoadIndex(Repository& repository) {
  FERRY_ASSIGN_OR_RETURN(auto lock, RepoLock::Acquire(repository, repo::LockKind::kRead));
  FERRY_RETURN_IF_ERROR(repository.LoadIndex(lock->candidate_packs()));
  for (const std::string& m : lock->TakeMessages()) PrintError("warning: " + m);
  return lock;
}

}  // namespace ferry::cli
