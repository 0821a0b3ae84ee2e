#include "transports/uri.h"

#include <cstring>

#include <gtest/gtest.h>

namespace ferry {
namespace {

const char* NoEnv(const char*) { return nullptr; }
const char* EuEnv(const char* name) {
  return std::strcmp(name, "AWS_DEFAULT_REGION") == 0 ? "eu-west-1" : nullptr;
}

TransportUri Parse(std::string_view uri, const char* (*env)(const char*) = NoEnv) {
  auto t = ParseTransportUri(uri, env);
  EXPECT_TRUE(t.has_value()) << uri << ": " << t.error().ToString();
  return t.value_or(TransportUri{});
}

void ExpectBad(std::string_view uri, std::string_view says) {
  auto t = ParseTransportUri(uri, NoEnv);
  ASSERT_FALSE(t.has_value()) << uri;
  EXPECT_TRUE(t.error().IsInvalidArgument());
  EXPECT_NE(t.error().message().find(uri), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find(says), std::string::npos) << t.error().message();
}

TEST(TransportUri, LocalPaths) {
  EXPECT_EQ(Parse("/srv/backup").local_path, "/srv/backup");
  EXPECT_EQ(Parse("relative/dir").local_path, "relative/dir");
  EXPECT_EQ(Parse("file:///srv/backup").local_path, "/srv/backup");
  EXPECT_EQ(Parse("/srv/backup").kind, TransportKind::kLocal);
  ExpectBad("file://srv/backup", "absolute path");
  ExpectBad("ftp://host/x", "unknown scheme 'ftp'");
}

TEST(TransportUri, Nfs) {
  TransportUri t = Parse("nfs://filer:2049/exports/ferry?version=4");
  EXPECT_EQ(t.kind, TransportKind::kNfs);
  EXPECT_EQ(t.nfs.host, "filer");
  EXPECT_EQ(t.nfs.port, 2049);
  EXPECT_EQ(t.nfs.export_path, "/exports/ferry");
  EXPECT_EQ(t.nfs.version, 4);
  t = Parse("nfs://[::1]/e");
  EXPECT_EQ(t.nfs.host, "[::1]");
  EXPECT_EQ(t.nfs.port, 0);
  EXPECT_EQ(t.nfs.version, 3);
  ExpectBad("nfs://filer", "no export path");
  ExpectBad("nfs://filer:99999/e", "port");
  ExpectBad("nfs://filer:/e", "port");
  ExpectBad("nfs:///e", "no host");
  ExpectBad("nfs://filer/e?version=2", "version must be 3 or 4");
  ExpectBad("nfs://filer/e?vers=3", "unknown parameter 'vers'");
  EXPECT_EQ(t.nfs.timeout_seconds, 30);
  EXPECT_EQ(Parse("nfs://filer/e?version=3&timeout=5").nfs.timeout_seconds, 5);
  for (const char* bad : {"0", "3601", "-1", "5s", "", "99999999999"}) {
    ExpectBad(std::string("nfs://filer/e?timeout=") + bad, "is not a number of seconds");
  }
}

TEST(TransportUri, S3OnAws) {
  TransportUri t = Parse("s3://my-bucket/backups/host1/");
  EXPECT_EQ(t.kind, TransportKind::kS3);
  EXPECT_EQ(t.s3.bucket, "my-bucket");
  EXPECT_EQ(t.s3.prefix, "backups/host1");
  EXPECT_EQ(t.s3.region, "us-east-1");
  EXPECT_EQ(t.s3.endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(t.s3.path_style);
  t = Parse("s3://my-bucket", EuEnv);
  EXPECT_EQ(t.s3.prefix, "");
  EXPECT_EQ(t.s3.region, "eu-west-1");
  EXPECT_EQ(t.s3.endpoint, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(Parse("s3://my-bucket?region=ap-south-1", EuEnv).s3.region, "ap-south-1");
}

TEST(TransportUri, S3Compatible) {
  TransportUri t = Parse("s3://bucket/p?endpoint=http://127.0.0.1:4568&region=local");
  EXPECT_EQ(t.s3.endpoint, "http://127.0.0.1:4568");
  EXPECT_EQ(t.s3.region, "local");
  EXPECT_TRUE(t.s3.path_style);
  EXPECT_FALSE(Parse("s3://bucket?endpoint=https://minio:9000&style=virtual").s3.path_style);
  ExpectBad("s3://Bucket/x", "not a bucket name");
  ExpectBad("s3://ab", "not a bucket name");
  ExpectBad("s3://-ab/x", "not a bucket name");
  ExpectBad("s3://bucket/a//b", "empty path segment");
  ExpectBad("s3://bucket//a", "empty path segment");  // Keys would start with "/" (fuzzing).
  ExpectBad("s3://bucket?endpoint=127.0.0.1:4568", "not http(s)://HOST[:PORT]");
  ExpectBad("s3://bucket?endpoint=http://h/path", "not http(s)://HOST[:PORT]");
  ExpectBad("s3://bucket?endpoint=http://h:0", "port");
  ExpectBad("s3://bucket?style=dns", "style must be path or virtual");
  ExpectBad("s3://bucket?region", "not NAME=VALUE");
  ExpectBad("s3://bucket?region=a&region=b", "given twice");
  ExpectBad("s3://bucket?acl=private", "unknown parameter 'acl'");
}

}  // namespace
}  // namespace ferry
