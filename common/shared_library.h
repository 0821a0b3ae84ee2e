// SharedLibrary: a library loaded at run time (dlopen) instead of at start-up.
//
// Some dependencies serve only some commands — libcurl for S3 repositories, libnbd for NBD
// sources — and pull in dozens of libraries of their own (Kerberos, GnuTLS, LDAP, libxml2, ICU).
// Linked normally, every ferry process maps them all before main(): about 60 ms of a cold start
// that a backup to a local repository never uses. Loaded on first use, they cost only the
// commands that need them, and a machine without them can still do everything else.
//
// A library, once loaded, stays loaded for the life of the process (libcurl keeps global state).
//
// Thread-safety: Open() and Bind() may be called from any thread.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace ferry {

class SharedLibrary {
 public:
  // Loads `soname` (such as "libcurl.so.4"). Errors: kNotSupported naming the library, what it
  // is needed for (`needed_for`, e.g. "S3 repositories") and the loader's reason.
  static Result<SharedLibrary> Open(const char* soname, std::string_view needed_for);

  // Sets `*fn` to the library's function `name`. Errors: kNotSupported naming the function and
  // the library (a version too old to have it).
  template <class Fn>
  Status Bind(const char* name, Fn** fn) const {
    void* symbol = Lookup(name);
    if (symbol == nullptr) return MissingSymbol(name);
    static_assert(sizeof(*fn) == sizeof(symbol));
    std::memcpy(fn, &symbol, sizeof(symbol));  // dlsym's void* to a function pointer.
    return Status();
  }

 private:
  SharedLibrary(void* handle, std::string soname, std::string_view needed_for)
      : handle_(handle), soname_(std::move(soname)), needed_for_(needed_for) {}
  void* Lookup(const char* name) const;
  Status MissingSymbol(const char* name) const;

  void* handle_;
  std::string soname_;
  std::string needed_for_;
};

// The table of functions `Load` binds, loaded on the first call and kept for the process; a
// failure is kept too, so every later call gets the same error without trying again.
template <class Table, Result<Table> (*Load)()>
Result<const Table*> LoadOnce() {
  static const Result<Table> table = Load();
  if (!table) return Err(table.error());
  return &*table;
}

}  // namespace ferry
