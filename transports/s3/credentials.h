// Where S3 credentials come from, in the order the AWS tools use: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else a profile (AWS_PROFILE,
// default "default") in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
// ~/.aws/credentials).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

#include "transports/s3/sigv4.h"

namespace ferry::s3 {

// Looks up an environment variable (nullptr if unset); tests pass their own.
using GetEnvFn = std::function<const char*(const char*)>;

// Errors: kInvalidArgument when only one of the key pair is set, when the profile is not in
// the file or lacks a key, and when no source has credentials (saying where it looked);
// kIoError for an unreadable credentials file.
Result<Credentials> LoadCredentials(const GetEnvFn& getenv);

// The [profile] section of a shared credentials file's text (INI: "key = value" lines, '#' and
// ';' comment lines). `file` names it in errors. Errors: kInvalidArgument when the profile is
// missing or lacks a key.
Result<Credentials> ParseCredentialsFile(std::string_view text, std::string_view profile,
                                         std::string_view file);

}  // namespace ferry::s3
