#include "common/malloc_tuning.h"

#include <malloc.h>

namespace ferry {

bool KeepLargeBuffersInHeap() {
#if defined(__GLIBC__)
  // glibc's ceiling for the mmap threshold on 64-bit systems; setting it also stops glibc from
  // moving the threshold (and the trim threshold with it) on its own.
  constexpr int kLargestHeapBlock = 32 << 20;
  // Trim only a free heap top far above any job's working set.
  constexpr int kTrimAbove = 1 << 30;
  return mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kTrimAbove) == 1;
#else
  return false;
#endif
}

}  // namespace ferry
