// Compressed clusters: QEMU writes raw deflate (zlib without its header, window 2^12) or one
// zstd frame, and a reader stops as soon as a whole cluster is produced: the stored bytes are
// rounded up to 512-byte sectors and may run into the next compressed cluster.
#pragma once

#include <string>

#include "common/bytes.h"
#include "common/result.h"

#include "formats/qcow2/header.h"

namespace ferry::qcow2 {

// Decompresses `in` until `out` is full. Errors: kCorruption naming `what` when the data is not
// valid or ends before `out` is full.
Status DecompressCluster(Compression type, ByteView in, MutableByteView out,
                         const std::string& what);

// Compresses one cluster `in` into `out`. Returns the compressed size, or 0 when the result
// would not be smaller than `max_size` (the cluster is then stored uncompressed).
Result<size_t> CompressCluster(Compression type, ByteView in, std::string* out, size_t max_size);

}  // namespace ferry::qcow2
