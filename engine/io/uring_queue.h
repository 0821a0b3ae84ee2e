// The io_uring backend of IoQueue. See io_queue.h for the contract.
#pragma once

#include "engine/io/io_queue.h"

namespace ferry::io {

// Sets up a ring of `depth` entries. Errors: the errno of io_uring_queue_init (EPERM, ENOSYS
// and ENOMEM are what sandboxes and old kernels give), or kNotSupported if the kernel lacks
// IORING_OP_READ/WRITE (before 5.6).
Result<std::unique_ptr<IoQueue>> CreateUringQueue(unsigned depth);

}  // namespace ferry::io
