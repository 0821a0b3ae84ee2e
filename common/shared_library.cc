#include "common/shared_library.h"

#include <dlfcn.h>
#include <fmt/format.h>

namespace ferry {

Result<SharedLibrary> SharedLibrary::Open(const char* soname, std::string_view needed_for) {
  void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Err(Status::NotSupported(fmt::format("{} need {}, which cannot be loaded: {}",
                                                needed_for, soname, why ? why : "unknown reason")));
  }
  return SharedLibrary(handle, soname, needed_for);
}

void* SharedLibrary::Lookup(const char* name) const { return dlsym(handle_, name); }

Status SharedLibrary::MissingSymbol(const char* name) const {
  return Status::NotSupported(
      fmt::format("{} need {}(), which {} does not have (too old?)", needed_for_, name, soname_));
}

}  // namespace ferry
