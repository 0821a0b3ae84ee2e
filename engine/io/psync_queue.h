// The pread/pwrite thread-pool backend of IoQueue. See io_queue.h for the contract.
#pragma once

#include "engine/io/io_queue.h"

namespace ferry::io {

std::unique_ptr<IoQueue> CreatePsyncQueue(unsigned depth, unsigned threads);

}  // namespace ferry::io
