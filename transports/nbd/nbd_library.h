// NbdLibrary: the libnbd functions the NBD client calls, loaded on first use.
//
// libnbd and its dependencies (GnuTLS, libxml2, ICU) are loaded only when a command reads an NBD
// export (common/shared_library.h says why). Types and constants come from <libnbd.h> as usual;
// only calls go through this table.
//
// Thread-safety: LoadNbd() may be called from any thread; the table never changes once loaded.
#pragma once

#include <libnbd.h>

#include "common/result.h"

namespace ferry::nbd {

struct NbdLibrary {
  decltype(&::nbd_create) create = nullptr;
  decltype(&::nbd_close) close = nullptr;
  decltype(&::nbd_shutdown) shutdown = nullptr;
  decltype(&::nbd_get_error) get_error = nullptr;
  decltype(&::nbd_get_errno) get_errno = nullptr;
  decltype(&::nbd_add_meta_context) add_meta_context = nullptr;
  decltype(&::nbd_get_size) get_size = nullptr;
  decltype(&::nbd_can_meta_context) can_meta_context = nullptr;
  decltype(&::nbd_can_multi_conn) can_multi_conn = nullptr;
  decltype(&::nbd_aio_block_status) aio_block_status = nullptr;
  decltype(&::nbd_aio_pread) aio_pread = nullptr;
  decltype(&::nbd_aio_command_completed) aio_command_completed = nullptr;
  decltype(&::nbd_poll) poll = nullptr;
  decltype(&::nbd_aio_connect_uri) aio_connect_uri = nullptr;
  decltype(&::nbd_aio_is_connecting) aio_is_connecting = nullptr;
  decltype(&::nbd_aio_is_ready) aio_is_ready = nullptr;
};

// libnbd (libnbd.so.0), loaded once per process. Errors: kNotSupported naming the library or
// function that could not be loaded; the same error on every later call.
Result<const NbdLibrary*> LoadNbd();

}  // namespace ferry::nbd
