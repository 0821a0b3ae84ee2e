#include "transports/nbd/nbd_library.h"

#include "common/shared_library.h"

namespace ferry::nbd {
namespace {

// libnbd's soname has been .0 since 1.0 (2019).
constexpr char kSoname[] = "libnbd.so.0";

Result<NbdLibrary> Load() {
  FERRY_ASSIGN_OR_RETURN(SharedLibrary lib, SharedLibrary::Open(kSoname, "NBD sources"));
  NbdLibrary n;
  for (Status s : {
           lib.Bind("nbd_create", &n.create),
           lib.Bind("nbd_close", &n.close),
           lib.Bind("nbd_shutdown", &n.shutdown),
           lib.Bind("nbd_get_error", &n.get_error),
           lib.Bind("nbd_get_errno", &n.get_errno),
           lib.Bind("nbd_add_meta_context", &n.add_meta_context),
           lib.Bind("nbd_get_size", &n.get_size),
           lib.Bind("nbd_can_meta_context", &n.can_meta_context),
           lib.Bind("nbd_can_multi_conn", &n.can_multi_conn),
           lib.Bind("nbd_aio_block_status", &n.aio_block_status),
           lib.Bind("nbd_aio_pread", &n.aio_pread),
           lib.Bind("nbd_aio_command_completed", &n.aio_command_completed),
           lib.Bind("nbd_poll", &n.poll),
           lib.Bind("nbd_aio_connect_uri", &n.aio_connect_uri),
           lib.Bind("nbd_aio_is_connecting", &n.aio_is_connecting),
           lib.Bind("nbd_aio_is_ready", &n.aio_is_ready),
       }) {
    FERRY_RETURN_IF_ERROR(s);
  }
  return n;
}

}  // namespace

Result<const NbdLibrary*> LoadNbd() { return LoadOnce<NbdLibrary, Load>(); }

}  // namespace ferry::nbd
