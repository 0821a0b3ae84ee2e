// One suite, every backend: what the engine relies on from a Transport (transport.h), checked
// against the local directory and against real servers (s3rver behind our signature-checking
// front end, Ceph's radosgw, nfs-ganesha; see tests/servers/). A backend whose server is not in the
// environment is skipped with a message; CTest runs each backend through the script that starts its
// server.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"
#include "transports/local/local_transport.h"
#include "transports/nfs/nfs_transport.h"
#include "transports/s3/credentials.h"
#include "transports/s3/s3_transport.h"

namespace ferry {

void PrintTo(const ListedObject& o, std::ostream* os) { *os << o.name << " (" << o.size << " B)"; }

namespace {

// Small enough that the tests exercise multipart uploads and listing pages.
s3::S3Options SmallS3Options() {
  s3::S3Options o;
  o.multipart_threshold = 5u << 20;
  o.part_size = 5u << 20;
  o.list_page_size = 100;
  o.delete_batch = 7;  // RemoveMany's requests of several names, and a last one of fewer.
  return o;
}

std::string UniquePrefix() {
  std::random_device rd;
  return fmt::format("conformance-{:08x}{:08x}", rd(), rd());
}

struct Backend {
  std::string name;
  // Returns a transport on a fresh, empty namespace, or "" in *skip with the reason; where the
  // namespace is a directory this test can reach, its path in *local_dir.
  std::function<std::unique_ptr<Transport>(const std::string& dir, std::string* skip,
                                           std::string* local_dir)>
      open;

  friend void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }
};

// The S3 server whose endpoint and bucket are in the environment variables named.
std::unique_ptr<Transport> OpenS3Styled(std::string* skip, bool virtual_hosted,
                                        const char* endpoint_variable = "FERRY_S3_ENDPOINT",
                                        const char* bucket_variable = "FERRY_S3_BUCKET",
                                        const char* script = "with_s3.sh") {
  const char* endpoint = std::getenv(endpoint_variable);
  const char* bucket = std::getenv(bucket_variable);
  if (endpoint == nullptr || bucket == nullptr) {
    *skip = fmt::format("no S3 test server: run through tests/servers/{}", script);
    return nullptr;
  }
  S3Location where{.bucket = bucket,
                   .prefix = UniquePrefix(),
                   .endpoint = endpoint,
                   .region = "us-east-1",
                   .path_style = !virtual_hosted};
  if (virtual_hosted) {
    // BUCKET.s3.localhost: curl sends *.localhost to 127.0.0.1 without asking a resolver.
    const size_t at = where.endpoint.find("127.0.0.1");
    if (at != std::string::npos) where.endpoint.replace(at, 9, "s3.localhost");
  }
  auto credentials = s3::LoadCredentials([](const char* n) { return std::getenv(n); });
  EXPECT_TRUE(credentials.has_value()) << credentials.error().ToString();
  auto t = s3::S3Transport::Open(where, *credentials, SmallS3Options());
  EXPECT_TRUE(t.has_value()) << t.error().ToString();
  return t.has_value() ? std::move(*t) : nullptr;
}

std::unique_ptr<Transport> OpenS3(const std::string&, std::string* skip, std::string*) {
  return OpenS3Styled(skip, false);
}
std::unique_ptr<Transport> OpenS3Virtual(const std::string&, std::string* skip, std::string*) {
  return OpenS3Styled(skip, true);
}

// Ceph's gateway, a second S3 implementation (one that checks signatures itself), on a bucket
// with Object Lock (so versioned): removal must still make objects disappear.
std::unique_ptr<Transport> OpenRgw(const std::string&, std::string* skip, std::string*) {
  return OpenS3Styled(skip, false, "FERRY_RGW_ENDPOINT", "FERRY_RGW_LOCKED_BUCKET", "with_rgw.sh");
}

std::unique_ptr<Transport> OpenNfsAt(const char* uri_variable, std::string* skip,
                                     std::string* local_dir) {
  const char* uri = std::getenv(uri_variable);
  if (uri == nullptr) {
    *skip = "no NFS test server: run through tests/servers/with_nfs.sh";
    return nullptr;
  }
  const std::string prefix = UniquePrefix();
  // The export is a directory of this host (with_nfs.sh runs the server beside the tests).
  if (const char* exported = std::getenv("FERRY_NFS_EXPORT_DIR")) {
    *local_dir = std::string(exported) + "/" + prefix;
  }
  auto parsed = ParseTransportUri(std::string(uri) + "/" + prefix);
  EXPECT_TRUE(parsed.has_value()) << parsed.error().ToString();
  auto t = nfs::NfsTransport::Open(parsed->nfs, true);
  EXPECT_TRUE(t.has_value()) << t.error().ToString();
  return t.has_value() ? std::move(*t) : nullptr;
}

std::unique_ptr<Transport> OpenNfs(const std::string&, std::string* skip, std::string* local_dir) {
  return OpenNfsAt("FERRY_NFS_URI", skip, local_dir);
}
// Through a proxy that loses the first answer to every call that changes the namespace: the
// server did it, the client sends it again, and the server, not knowing the resend, does it
// again (and fails a LINK or a RENAME).
std::unique_ptr<Transport> OpenNfsLossy(const std::string&, std::string* skip,
                                        std::string* local_dir) {
  return OpenNfsAt("FERRY_NFS_LOSSY_URI", skip, local_dir);
}

class TransportConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string skip;
    t_ = GetParam().open(dir_.path().string(), &skip, &local_dir_);
    if (!skip.empty()) GTEST_SKIP() << skip;
    ASSERT_NE(t_, nullptr);
  }

  std::string Read(const std::string& name, uint64_t offset, size_t length, size_t* got) {
    std::string buf(length, '\0');
    auto r = t_->ReadAt(name, offset, {reinterpret_cast<std::byte*>(buf.data()), buf.size()});
    EXPECT_TRUE(r.has_value()) << name << " at " << offset << ": " << r.error().ToString();
    *got = r.value_or(0);
    buf.resize(*got);
    return buf;
  }

  testing::TempDir dir_;
  std::unique_ptr<Transport> t_;
  std::string local_dir_;  // The namespace's directory, where this test can reach it.
};

TEST_P(TransportConformance, PutGetSizeRoundTrip) {
  const std::string data = testing::RandomBytes(300'001, 1);
  ASSERT_TRUE(t_->Put("data/ab/abcdef", AsBytes(data)).ok());
  EXPECT_EQ(t_->Get("data/ab/abcdef").value(), data);
  EXPECT_EQ(t_->Size("data/ab/abcdef").value(), data.size());
  ASSERT_TRUE(t_->Put("empty", AsBytes("")).ok());
  EXPECT_EQ(t_->Get("empty").value(), "");
  EXPECT_EQ(t_->Size("empty").value(), 0u);
}

TEST_P(TransportConformance, ExclusivePutRefusesToReplace) {
  ASSERT_TRUE(t_->Put("config", AsBytes("one"), true).ok());
  const Status s = t_->Put("config", AsBytes("two"), true);
  EXPECT_EQ(s.code(), Status::Code::kAlreadyExists) << s.ToString();
  EXPECT_EQ(t_->Get("config").value(), "one");
  // Without `exclusive`, Put replaces (used for nothing but tests and repairs).
  ASSERT_TRUE(t_->Put("config", AsBytes("three")).ok());
  EXPECT_EQ(t_->Get("config").value(), "three");
}

TEST_P(TransportConformance, RangedReadsAtTheEdges) {
  const std::string data = testing::RandomBytes(1'000'003, 2);
  ASSERT_TRUE(t_->Put("obj", AsBytes(data)).ok());
  size_t got = 0;
  EXPECT_EQ(Read("obj", 0, 1, &got), data.substr(0, 1));
  EXPECT_EQ(Read("obj", data.size() - 1, 1, &got), data.substr(data.size() - 1));
  EXPECT_EQ(Read("obj", 4095, 8193, &got), data.substr(4095, 8193));
  // Past the end: short, then nothing.
  EXPECT_EQ(Read("obj", data.size() - 10, 100, &got), data.substr(data.size() - 10));
  EXPECT_EQ(got, 10u);
  EXPECT_EQ(Read("obj", data.size(), 100, &got), "");
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(Read("obj", data.size() + 12345, 100, &got), "");
  EXPECT_EQ(Read("obj", 0, data.size(), &got), data);
}

TEST_P(TransportConformance, NotFoundSemantics) {
  auto g = t_->Get("snapshots/nope");
  ASSERT_FALSE(g.has_value());
  EXPECT_TRUE(g.error().IsNotFound()) << g.error().ToString();
  EXPECT_NE(g.error().message().find("snapshots/nope"), std::string::npos) << g.error().message();
  auto s = t_->Size("snapshots/nope");
  ASSERT_FALSE(s.has_value());
  EXPECT_TRUE(s.error().IsNotFound()) << s.error().ToString();
  std::string buf(10, '\0');
  auto r = t_->ReadAt("snapshots/nope", 0, {reinterpret_cast<std::byte*>(buf.data()), 10});
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().IsNotFound()) << r.error().ToString();
  EXPECT_TRUE(t_->List("nothing-here").value().empty());
}

TEST_P(TransportConformance, DeletingWhatDoesNotExistSucceeds) {
  EXPECT_TRUE(t_->Remove("locks/never-was").ok());
  ASSERT_TRUE(t_->Put("locks/was", AsBytes("x")).ok());
  ASSERT_TRUE(t_->Remove("locks/was").ok());
  EXPECT_TRUE(t_->Size("locks/was").error().IsNotFound());
  EXPECT_TRUE(t_->Remove("locks/was").ok());
  EXPECT_TRUE(t_->List("locks").value().empty());
}

TEST_P(TransportConformance, RemovingManyRemovesExactlyThoseNamed) {
  std::vector<std::string> doomed;
  for (int i = 0; i < 30; ++i) {
    const std::string name = fmt::format("data/{:02x}/pack-{:03d}", i % 3, i);
    ASSERT_TRUE(t_->Put(name, AsBytes(name)).ok());
    if (i % 5 != 0) doomed.push_back(name);  // 24 of them; 0, 5, 10, ... stay.
  }
  // Names that never were, or are gone already, are no error (a prune that resumes).
  doomed.push_back("data/00/never-was");
  doomed.push_back("data/ff/never-was-either");
  ASSERT_TRUE(t_->Remove(doomed.front()).ok());
  Status removed = t_->RemoveMany(doomed);
  ASSERT_TRUE(removed.ok()) << removed.ToString();
  auto left = t_->List("data");
  ASSERT_TRUE(left.has_value()) << left.error().ToString();
  std::vector<std::string> expected;
  for (int i = 0; i < 30; i += 5)
    expected.push_back(fmt::format("data/{:02x}/pack-{:03d}", i % 3, i));
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*left, expected);
  EXPECT_TRUE(t_->RemoveMany({}).ok());
  // Names that need escaping in a request body reach the right objects.
  const std::string odd = "locks/a&b<c>'d\"e";
  ASSERT_TRUE(t_->Put(odd, AsBytes("x")).ok());
  ASSERT_TRUE(t_->RemoveMany({odd}).ok());
  EXPECT_TRUE(t_->Size(odd).error().IsNotFound());
}

TEST_P(TransportConformance, ListingManyObjectsIsCompleteSortedAndScoped) {
  // More than ten listing pages at the S3 backend's test page size.
  constexpr int kObjects = 1111;
  std::vector<std::string> expected;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < 8; ++w) {
    threads.emplace_back([&, w] {
      for (int i = w; i < kObjects; i += 8) {
        if (!t_->Put(fmt::format("index/{:02x}/{:06d}", i % 7, i), AsBytes("i")).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  for (int i = 0; i < kObjects; ++i)
    expected.push_back(fmt::format("index/{:02x}/{:06d}", i % 7, i));
  std::sort(expected.begin(), expected.end());
  // Neighbours that share the prefix's characters but not the prefix.
  ASSERT_TRUE(t_->Put("index2/x", AsBytes("n")).ok());
  ASSERT_TRUE(t_->Put("indexes", AsBytes("n")).ok());
  auto listed = t_->List("index");
  ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
  EXPECT_EQ(*listed, expected);
  EXPECT_EQ(t_->List("index/03").value().size(), static_cast<size_t>((kObjects - 3 + 6) / 7));
  EXPECT_EQ(t_->List("index2").value(), std::vector<std::string>{"index2/x"});
  // The listing with sizes names the same objects, page after page.
  auto sized = t_->ListWithSizes("index");
  ASSERT_TRUE(sized.has_value()) << sized.error().ToString();
  ASSERT_EQ(sized->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*sized)[i], (ListedObject{expected[i], 1}));
  }
}

// What check and prune rely on instead of asking each object's size: the listing's sizes are the
// objects' own, however they were written (one PUT, or a multipart upload on S3).
TEST_P(TransportConformance, ListingWithSizesGivesEachObjectsSize) {
  const std::string large = testing::RandomBytes(11u << 20, 7);  // Three parts at 5 MiB.
  auto writer = t_->Create("data/aa/large", large.size());
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  for (size_t at = 0; at < large.size(); at += 1u << 20) {
    ASSERT_TRUE((*writer)->Append(AsBytes(std::string_view(large).substr(at, 1u << 20))).ok());
  }
  ASSERT_TRUE((*writer)->Commit().ok());
  ASSERT_TRUE(t_->Put("data/aa/empty", AsBytes("")).ok());
  ASSERT_TRUE(t_->Put("data/bb/small", AsBytes(testing::RandomBytes(100'001, 8))).ok());
  ASSERT_TRUE(t_->Put("database", AsBytes("not under data/")).ok());
  // An unfinished writer is no object yet.
  auto unfinished = t_->Create("data/cc/unfinished");
  ASSERT_TRUE(unfinished.has_value());
  ASSERT_TRUE((*unfinished)->Append(AsBytes("partial")).ok());

  auto listed = t_->ListWithSizes("data");
  ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
  const std::vector<ListedObject> expected = {
      {"data/aa/empty", 0}, {"data/aa/large", 11u << 20}, {"data/bb/small", 100'001}};
  EXPECT_EQ(*listed, expected);
  for (const ListedObject& o : *listed) EXPECT_EQ(t_->Size(o.name).value(), o.size) << o.name;
  EXPECT_TRUE(t_->ListWithSizes("missing").value().empty());
}

TEST_P(TransportConformance, ConcurrentWritersOfDifferentObjects) {
  constexpr unsigned kThreads = 8, kEach = 12;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (unsigned w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (unsigned i = 0; i < kEach; ++i) {
        const std::string data = testing::RandomBytes(20'000 + 997 * i, 100 * w + i);
        if (i % 2 == 0) {
          if (!t_->Put(fmt::format("data/{}/{}", w, i), AsBytes(data)).ok()) ++failures;
          continue;
        }
        auto writer = t_->Create(fmt::format("data/{}/{}", w, i));
        if (!writer.has_value()) {
          ++failures;
          continue;
        }
        for (size_t at = 0; at < data.size(); at += 7000) {
          if (!(*writer)->Append(AsBytes(std::string_view(data).substr(at, 7000))).ok()) ++failures;
        }
        if (!(*writer)->Commit().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  for (unsigned w = 0; w < kThreads; ++w) {
    for (unsigned i = 0; i < kEach; ++i) {
      EXPECT_EQ(t_->Get(fmt::format("data/{}/{}", w, i)).value(),
                testing::RandomBytes(20'000 + 997 * i, 100 * w + i))
          << w << "/" << i;
    }
  }
  EXPECT_EQ(t_->List("data").value().size(), static_cast<size_t>(kThreads * kEach));
}

TEST_P(TransportConformance, NoReaderEverSeesAPartialObject) {
  // 12 MiB in uneven pieces: over the S3 test threshold, so it goes up as a multipart upload.
  const std::string data = testing::RandomBytes(12u << 20, 3);
  std::atomic<bool> done{false};
  std::atomic<int> partial{0}, complete{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto size = t_->Size("data/big");
      auto names = t_->List("data");
      if (names.has_value() && !names->empty() && names->front() != "data/big") {
        ADD_FAILURE() << "listed " << names->front();
        ++partial;
      }
      if (!size.has_value()) {
        if (!size.error().IsNotFound()) {
          ADD_FAILURE() << size.error().ToString();
          ++partial;
        }
        continue;
      }
      if (*size != data.size()) {
        ADD_FAILURE() << "size " << *size;
        ++partial;
      }
      ++complete;
    }
  });
  auto writer = t_->Create("data/big");
  ASSERT_TRUE(writer.has_value());
  for (size_t at = 0; at < data.size(); at += 1'234'567) {
    ASSERT_TRUE((*writer)->Append(AsBytes(std::string_view(data).substr(at, 1'234'567))).ok());
    EXPECT_TRUE(t_->Size("data/big").error().IsNotFound()) << "visible before Commit";
  }
  EXPECT_EQ((*writer)->size(), data.size());
  ASSERT_TRUE((*writer)->Commit().ok());
  // Let the reader see the published object at least once.
  for (int i = 0; i < 200 && complete.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  done = true;
  reader.join();
  EXPECT_EQ(partial.load(), 0);
  EXPECT_GT(complete.load(), 0);
  EXPECT_EQ(t_->Get("data/big").value(), data);
}

TEST_P(TransportConformance, AnUncommittedWriterLeavesNothing) {
  {
    auto writer = t_->Create("data/abandoned");
    ASSERT_TRUE(writer.has_value());
    const std::string data = testing::RandomBytes(6u << 20, 4);  // Multipart on S3.
    ASSERT_TRUE((*writer)->Append(AsBytes(data)).ok());
  }
  EXPECT_TRUE(t_->Size("data/abandoned").error().IsNotFound());
  EXPECT_TRUE(t_->List("data").value().empty());
  // Nor an unfinished upload (S3), where the server can list them.
  auto leftovers = t_->ListLeftovers();
  if (leftovers.has_value()) {
    EXPECT_TRUE(leftovers->empty()) << leftovers->front().name;
  } else {
    EXPECT_TRUE(leftovers.error().IsNotSupported()) << leftovers.error().ToString();
  }
}

// A writer killed between writing its temporary and publishing it leaves the temporary behind
// (on backends that publish by rename): List never shows it, ListLeftovers does, with how long
// ago it was written, and RemoveLeftover deletes it. (The test plants them as a killed writer
// leaves them, in the namespace's directory. On S3 objects are no leftovers; a server that
// cannot list uploads says so; unfinished_upload_test.cc plants uploads on radosgw.)
TEST_P(TransportConformance, LeftoversOfKilledWritersAreListedWithTheirAgeAndRemovable) {
  if (local_dir_.empty()) {
    ASSERT_TRUE(t_->Put("data/ab/object", AsBytes(std::string("x"))).ok());
    auto none = t_->ListLeftovers();
    if (!none.has_value()) {
      EXPECT_TRUE(none.error().IsNotSupported()) << none.error().ToString();
      return;
    }
    EXPECT_TRUE(none->empty());
    return;
  }

  const std::filesystem::path dir(local_dir_);
  testing::WriteFileWrittenAgo(dir / "data/ab/.tmp-killed", 1000, std::chrono::hours(2));
  testing::WriteFileWrittenAgo(dir / "locks/.tmp-just-now", 10, std::chrono::hours(0));
  ASSERT_TRUE(t_->Put("data/ab/object", AsBytes(std::string("x"))).ok());
  EXPECT_EQ(t_->List("data").value(), std::vector<std::string>{"data/ab/object"});

  auto leftovers = t_->ListLeftovers();
  ASSERT_TRUE(leftovers.has_value()) << leftovers.error().ToString();
  std::map<std::string, LeftoverTemporary> by_name;
  for (const LeftoverTemporary& l : *leftovers) by_name[l.name] = l;
  ASSERT_EQ(by_name.size(), 2u);
  ASSERT_EQ(by_name.count("data/ab/.tmp-killed"), 1u);
  EXPECT_EQ(by_name["data/ab/.tmp-killed"].size, 1000u);
  EXPECT_GE(by_name["data/ab/.tmp-killed"].age, std::chrono::minutes(119));
  ASSERT_EQ(by_name.count("locks/.tmp-just-now"), 1u);
  EXPECT_LT(by_name["locks/.tmp-just-now"].age, std::chrono::minutes(10));

  ASSERT_TRUE(t_->RemoveLeftover(by_name["data/ab/.tmp-killed"]).ok());
  leftovers = t_->ListLeftovers();
  ASSERT_TRUE(leftovers.has_value());
  ASSERT_EQ(leftovers->size(), 1u);
  EXPECT_EQ(leftovers->front().name, "locks/.tmp-just-now");
  EXPECT_EQ(t_->List("data").value(), std::vector<std::string>{"data/ab/object"});
}

INSTANTIATE_TEST_SUITE_P(
    Backends, TransportConformance,
    ::testing::Values(Backend{"Local",
                              [](const std::string& dir, std::string*, std::string* local_dir) {
                                *local_dir = dir;
                                return std::unique_ptr<Transport>(
                                    LocalTransport::Open(dir).value());
                              }},
                      Backend{"S3", OpenS3}, Backend{"S3Virtual", OpenS3Virtual},
                      Backend{"Rgw", OpenRgw}, Backend{"Nfs", OpenNfs},
                      Backend{"NfsLossy", OpenNfsLossy}),
    [](const ::testing::TestParamInfo<Backend>& p) { return p.param.name; });

}  // namespace
}  // namespace ferry
