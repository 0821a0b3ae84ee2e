// How a program that runs ferry's jobs should set up glibc's allocator. Backups and restores
// allocate and free large buffers all the time (chunks of up to a few MiB, packs of tens of MiB
// on their way to S3) across threads. By default glibc maps each such block anew and unmaps it
// when it is freed, or returns the top of the heap to the kernel as soon as it is free: either
// way the next buffer's every page is a fresh page fault, taken on the thread that fills it (the
// reader, which is what bounds an incremental backup). Process-wide, so programs (the CLI,
// ferryd) call it once at start; the library never does.
#pragma once

namespace ferry {

// Serves blocks up to 32 MiB from the heap and keeps freed heap memory for reuse (the process's
// peak stays what its jobs' memory bounds allow). Returns false if glibc refused a setting (or
// the allocator is not glibc's).
bool KeepLargeBuffersInHeap();

}  // namespace ferry
