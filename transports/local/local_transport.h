// LocalTransport: a Transport on a local (or kernel-mounted) directory. Put writes a temporary
// file beside the target, fsyncs it, renames it into place and fsyncs the directory, so a
// crash leaves either the whole object or none of it (plus, at worst, a stray temporary file
// whose name starts with ".tmp-", which List() never returns).
//
// Thread-safety: as Transport.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "transports/transport.h"

namespace ferry {

class LocalTransport final : public Transport {
 public:
  // `root` must exist. Errors: kNotFound if it does not, kInvalidArgument if not a directory.
  static Result<std::unique_ptr<LocalTransport>> Open(const std::string& root);

  std::string Describe() const override { return root_; }
  // Page-cache writes and reads are quick; a few commits at once overlap their fsyncs.
  TransportCapabilities capabilities() const override {
    return {.atomic_rename = true, .object_lock = false, .parallelism = 2};
  }
  Status Put(std::string_view name, ByteView data, bool exclusive = false) override;
  Result<std::unique_ptr<ObjectWriter>> Create(std::string_view name,
                                               uint64_t size_hint = 0) override;
  Result<std::string> Get(std::string_view name) override;
  Result<size_t> ReadAt(std::string_view name, uint64_t offset, MutableByteView dst) override;
  Result<uint64_t> Size(std::string_view name) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Result<std::vector<ListedObject>> ListWithSizes(std::string_view prefix) override;
  Result<std::vector<LeftoverTemporary>> ListLeftovers() override;
  Status Remove(std::string_view name) override;

 private:
  explicit LocalTransport(std::string root) : root_(std::move(root)) {}
  std::string PathOf(std::string_view name) const;
  // Calls `visit` with the name and directory entry of every object under `prefix`, unsorted.
  Status Walk(std::string_view prefix,
              const std::function<void(std::string name, const std::filesystem::directory_entry&)>&
                  visit) const;

  std::string root_;
};

}  // namespace ferry
