#include "transports/s3/credentials.h"

#include <cerrno>
#include <fstream>

#include <fmt/format.h>

namespace ferry::s3 {

namespace {

std::string Env(const GetEnvFn& getenv, const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

Result<Credentials> LoadCredentials(const GetEnvFn& getenv) {
  Credentials c;
  c.access_key_id = Env(getenv, "AWS_ACCESS_KEY_ID");
  c.secret_access_key = Env(getenv, "AWS_SECRET_ACCESS_KEY");
  if (!c.access_key_id.empty() || !c.secret_access_key.empty()) {
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return Err(Status::InvalidArgument(
          "S3 credentials: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (one is empty)"));
    }
    c.session_token = Env(getenv, "AWS_SESSION_TOKEN");
    return c;
  }
  std::string file = Env(getenv, "AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !Env(getenv, "HOME").empty())
    file = Env(getenv, "HOME") + "/.aws/credentials";
  std::string profile = Env(getenv, "AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (errno != ENOENT || !Env(getenv, "AWS_PROFILE").empty()) {
      return Err(Status::FromErrno(errno, "S3 credentials file " + file));
    }
    return Err(Status::InvalidArgument(fmt::format(
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put a [{}] "
        "profile in {} (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE)",
        profile, file.empty() ? "~/.aws/credentials" : file)));
  }
  // A credentials file holds a few lines per profile; anything this large is the wrong file.
  constexpr std::streamsize kMaxFileSize = 1 << 20;
  std::string text(static_cast<size_t>(kMaxFileSize) + 1, '\0');
  in.read(text.data(), kMaxFileSize + 1);
  if (in.bad()) return Err(Status::FromErrno(errno, "read S3 credentials file " + file));
  if (in.gcount() > kMaxFileSize) {
    return Err(Status::InvalidArgument(
        fmt::format("S3 credentials file {} is larger than 1 MiB: not a credentials file", file)));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return ParseCredentialsFile(text, profile, file);
}

Result<Credentials> ParseCredentialsFile(std::string_view text, std::string_view profile,
                                         std::string_view file) {
  Credentials c;
  bool in_profile = false, found = false;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = Trim(text.substr(0, newline));
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {  // Never one character: '[' != ']'.
      in_profile = Trim(line.substr(1, line.size() - 2)) == profile;
      found |= in_profile;
      continue;
    }
    const size_t eq = line.find('=');
    if (!in_profile || eq == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found) {
    return Err(Status::InvalidArgument(
        fmt::format("S3 credentials: no [{}] profile in {}", profile, file)));
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return Err(Status::InvalidArgument(fmt::format(
        "S3 credentials: profile [{}] in {} lacks aws_access_key_id or aws_secret_access_key",
        profile, file)));
  }
  return c;
}

}  // namespace ferry::s3
