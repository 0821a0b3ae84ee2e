// The automatic fallback, exercised for real: a child process installs a seccomp filter that
// makes io_uring_setup fail with ENOSYS or EPERM (what Docker's default profile and old kernels
// do), then asks for a queue. Also FERRY_IO_BACKEND forcing either backend.
#include <cerrno>
#include <cstddef>
#include <cstring>

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/io/io_queue.h"

namespace ferry::io {
namespace {

// Makes io_uring_setup(2) return -err in this process from now on. Returns false if seccomp
// is unavailable.
bool BlockIoUringSetup(int err) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
                            filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// Runs `body` in a forked child with io_uring_setup blocked; returns the child's exit code
// (77 when seccomp is unavailable).
template <class F>
int InChildWithoutIoUring(int err, F body) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!BlockIoUringSetup(err)) _exit(77);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(IoFallbackTest, AutoFallsBackToPsyncAndSaysWhy) {
  for (int err : {ENOSYS, EPERM}) {
    const int rc = InChildWithoutIoUring(err, [err] {
      unsetenv("FERRY_IO_BACKEND");
      auto created = CreateIoQueue({});
      if (!created) return 1;
      if (created->queue->name() != "psync") return 2;
      const std::string expected = std::string("io_uring is unavailable (io_uring_queue_init: ") +
                                   std::strerror(err) + "); using the pread/pwrite thread pool";
      if (created->fallback_reason != expected) return 3;
      // The fallback queue works.
      char buf[4] = {};
      int fds[2];
      if (pipe(fds) != 0 || write(fds[1], "abcd", 4) != 4) return 4;
      auto n = TransferSync(*created->queue, IoOp::kRead, fds[0], 0,
                            reinterpret_cast<std::byte*>(buf), 4);
      // Pipes refuse positional reads: the error must come back as a completion, not a crash.
      if (n.has_value() || n.error().errno_value() != ESPIPE) return 5;
      return 0;
    });
    if (rc == 77) GTEST_SKIP() << "seccomp is unavailable here";
    EXPECT_EQ(rc, 0) << "errno " << err;
  }
}

TEST(IoFallbackTest, ForcedUringFailsClearlyWhenBlocked) {
  const int rc = InChildWithoutIoUring(EPERM, [] {
    auto created = CreateIoQueue({.kind = BackendKind::kUring});
    if (created) return 1;
    if (!created.error().IsNotSupported()) return 2;
    if (created.error().message() !=
        "io_uring was requested but cannot be used (io_uring_queue_init: Operation not "
        "permitted)") {
      return 3;
    }
    return 0;
  });
  if (rc == 77) GTEST_SKIP() << "seccomp is unavailable here";
  EXPECT_EQ(rc, 0);
}

TEST(IoFallbackTest, EnvironmentForcesTheBackend) {
  setenv("FERRY_IO_BACKEND", "psync", 1);
  auto psync = CreateIoQueue({});
  ASSERT_TRUE(psync.has_value());
  EXPECT_EQ(psync->queue->name(), "psync");
  EXPECT_TRUE(psync->fallback_reason.empty());
  setenv("FERRY_IO_BACKEND", "bogus", 1);
  auto bad = CreateIoQueue({});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(),
            "FERRY_IO_BACKEND: unknown I/O backend 'bogus' (expected auto, uring or psync)");
  unsetenv("FERRY_IO_BACKEND");
}

}  // namespace
}  // namespace ferry::io
