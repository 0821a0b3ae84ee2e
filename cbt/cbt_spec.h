// The --cbt argument: which change source to use for an incremental backup (or a delta restore),
// as "KIND:ARGUMENT" or "hash".
//   list:FILE              a text list of changed ranges (cbt/changed_list.h)
//   csi:FILE               CSI GetMetadataDelta responses as JSON
//   qcow2-bitmap:NAME      a persistent dirty bitmap of a QCOW2 source
//   nbd-bitmap:NAME        qemu:dirty-bitmap:NAME of an NBD source
//   fiemap:PREVIOUS_FILE   FIEMAP comparison with a reflink copy of the previous state
//   hash                   no change tracking: compare per-block hashes with the parent
#pragma once

#include <string>
#include <string_view>

#include "common/cancel.h"
#include "common/result.h"

#include "cbt/changed_list.h"

namespace ferry::cbt {

enum class CbtKind { kList, kCsi, kQcow2Bitmap, kNbdBitmap, kFiemap, kHash };

struct CbtSpec {
  CbtKind kind = CbtKind::kHash;
  std::string argument;  // The file or bitmap name; empty for kHash.

  // The spec as given ("list:/path", "hash").
  std::string ToString() const;
};

// Errors: kInvalidArgument naming the accepted forms.
Result<CbtSpec> ParseCbtSpec(std::string_view text);

// Reads the changes of `source` (the file or device being backed up, or the target of a delta
// restore) that `spec` describes: a list or CSI file, FIEMAP against a reflink copy, a
// persistent dirty bitmap of a QCOW2 source (an untrusted bitmap is not an error: the result
// says why in `untrusted`), or qemu:dirty-bitmap:NAME of an NBD source. Errors: kNotFound /
// kPermissionDenied naming the file, kNotFound for a bitmap the image or server does not have;
// kInvalidArgument from the parsers and for a source of the wrong kind; kUnavailable for an NBD
// server that cannot be reached; kNotSupported for kHash, which is not a list; kCancelled when
// `cancel` (optional) is set while an NBD server is being waited for.
Result<ChangedBlocks> LoadChangedBlocks(const CbtSpec& spec, const std::string& source,
                                        const CancelToken* cancel = nullptr);

}  // namespace ferry::cbt
