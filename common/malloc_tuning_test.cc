#include "common/malloc_tuning.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace ferry {
namespace {

long MinorFaults() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

void* volatile sink;  // Keeps the compiler from eliding the allocations.

// Allocates and fills `n` blocks of 1 MiB, as a backup's chunks are, then frees them all.
void AllocateFillAndFree(int n) {
  constexpr size_t kBlock = 1 << 20;
  std::vector<char*> blocks;
  for (int i = 0; i < n; ++i) {
    char* p = static_cast<char*>(std::malloc(kBlock));
    ASSERT_NE(p, nullptr);
    std::memset(p, i + 1, kBlock);
    sink = p;
    blocks.push_back(p);
  }
  for (char* p : blocks) std::free(p);
}

TEST(MallocTuningTest, FreedChunkSizedBlocksAreReusedWithoutPageFaults) {
#ifdef FERRY_SANITIZE_BUILD
  GTEST_SKIP() << "the sanitizers bring their own allocator, which ignores mallopt";
#endif
  ASSERT_TRUE(KeepLargeBuffersInHeap());
  AllocateFillAndFree(16);  // Grows the heap once.
  const long before = MinorFaults();
  AllocateFillAndFree(16);
  AllocateFillAndFree(16);
  // 16 MiB again, twice, is 8192 pages; glibc's defaults returned the free heap top to the
  // kernel after each round and faulted every page in again.
  EXPECT_LT(MinorFaults() - before, 256);
}

}  // namespace
}  // namespace ferry
