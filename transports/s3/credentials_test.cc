#include "transports/s3/credentials.h"

#include <map>

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"

namespace ferry::s3 {
namespace {

struct FakeEnv {
  std::map<std::string, std::string> vars;
  GetEnvFn Fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

TEST(S3Credentials, FromTheEnvironmentFirst) {
  FakeEnv env;
  env.vars = {{"AWS_ACCESS_KEY_ID", "AKID"},
              {"AWS_SECRET_ACCESS_KEY", "secret"},
              {"AWS_SESSION_TOKEN", "tok"},
              {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"}};
  auto c = LoadCredentials(env.Fn());
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, "secret");
  EXPECT_EQ(c->session_token, "tok");

  env.vars.erase("AWS_SECRET_ACCESS_KEY");
  c = LoadCredentials(env.Fn());
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("one is empty"), std::string::npos);
}

TEST(S3Credentials, FromAProfileInTheSharedFile) {
  testing::TempDir dir;
  const auto file = dir.path() / "credentials";
  testing::WriteFileOrDie(file,
                          "# comment\n[default]\naws_access_key_id = DEF\n"
                          "aws_secret_access_key=defsecret\n\n[backup]\n"
                          "  aws_access_key_id = BAK  \naws_secret_access_key = bak/se+cret\n"
                          "aws_session_token = t0k\n[empty]\naws_access_key_id = X\n");
  FakeEnv env;
  env.vars = {{"AWS_SHARED_CREDENTIALS_FILE", file.string()}};
  auto c = LoadCredentials(env.Fn());
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->access_key_id, "DEF");
  EXPECT_EQ(c->secret_access_key, "defsecret");

  env.vars["AWS_PROFILE"] = "backup";
  c = LoadCredentials(env.Fn());
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->access_key_id, "BAK");
  EXPECT_EQ(c->secret_access_key, "bak/se+cret");
  EXPECT_EQ(c->session_token, "t0k");

  env.vars["AWS_PROFILE"] = "empty";
  c = LoadCredentials(env.Fn());
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("lacks"), std::string::npos);

  env.vars["AWS_PROFILE"] = "nope";
  c = LoadCredentials(env.Fn());
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("no [nope] profile"), std::string::npos);
}

TEST(S3Credentials, NoneAnywhereSaysWhereItLooked) {
  FakeEnv env;
  env.vars = {{"HOME", "/nonexistent-home"}};
  auto c = LoadCredentials(env.Fn());
  ASSERT_FALSE(c.has_value());
  EXPECT_TRUE(c.error().IsInvalidArgument());
  EXPECT_NE(c.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(c.error().message().find("/nonexistent-home/.aws/credentials"), std::string::npos);
}

TEST(S3Credentials, TheFileParserKeepsToItsProfileAndToleratesOddLines) {
  // CRLF line ends, a last line without one, a lone "[", a section header with blanks inside,
  // keys of another profile before and after, a line without '='.
  const std::string text =
      "[other]\r\naws_access_key_id = O\r\n[\r\n[ backup ]\r\nno equals sign\r\n"
      "aws_access_key_id=K=with=equals\r\naws_secret_access_key =\tS \r\n[x]\n"
      "aws_secret_access_key = later";
  auto c = ParseCredentialsFile(text, "backup", "creds");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->access_key_id, "K=with=equals");
  EXPECT_EQ(c->secret_access_key, "S");
  EXPECT_EQ(c->session_token, "");

  auto missing = ParseCredentialsFile("", "backup", "creds");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message(), "S3 credentials: no [backup] profile in creds");
}

TEST(S3Credentials, AFileFarTooLargeIsRefusedByName) {
  testing::TempDir dir;
  const auto file = dir.path() / "credentials";
  testing::WriteFileOrDie(file, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n" +
                                    std::string(2u << 20, '#'));
  FakeEnv env;
  env.vars = {{"AWS_SHARED_CREDENTIALS_FILE", file.string()}};
  auto c = LoadCredentials(env.Fn());
  ASSERT_FALSE(c.has_value());
  EXPECT_TRUE(c.error().IsInvalidArgument());
  EXPECT_NE(c.error().message().find(file.string() + " is larger than 1 MiB"), std::string::npos)
      << c.error().message();
}

TEST(S3Credentials, ADirectoryInPlaceOfTheFileIsAnIoErrorNamingIt) {
  testing::TempDir dir;
  FakeEnv env;
  env.vars = {{"AWS_SHARED_CREDENTIALS_FILE", dir.path().string()}};
  auto c = LoadCredentials(env.Fn());
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find(dir.path().string()), std::string::npos)
      << c.error().message();
  EXPECT_FALSE(c.error().IsInvalidArgument()) << c.error().ToString();
}

}  // namespace
}  // namespace ferry::s3
