#include "cbt/cbt_spec.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "cbt/fiemap.h"
#include "formats/qcow2/bitmaps.h"
#include "formats/qcow2/qcow2_image.h"
#include "transports/nbd/nbd_client.h"

namespace ferry::cbt {

namespace {

struct KindName {
  CbtKind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {
    {CbtKind::kList, "list"},
    {CbtKind::kCsi, "csi"},
    {CbtKind::kQcow2Bitmap, "qcow2-bitmap"},
    {CbtKind::kNbdBitmap, "nbd-bitmap"},
    {CbtKind::kFiemap, "fiemap"},
    {CbtKind::kHash, "hash"},
};

std::string_view NameOf(CbtKind kind) {
  for (const KindName& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

// The dirty ranges of a persistent bitmap of the QCOW2 image `source`.
Result<ChangedBlocks> Qcow2BitmapChanges(const std::string& source, const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(auto file, qcow2::OpenImageFile(source));
  auto image = qcow2::Qcow2Image::Open(std::move(file));
  if (!image) {
    if (!image.error().IsInvalidArgument()) return Err(image.error());
    return Err(Status::InvalidArgument(fmt::format(
        "--cbt qcow2-bitmap:{} needs a QCOW2 source, and {} is not one", name, source)));
  }
  const qcow2::Qcow2Image& img = **image;
  FERRY_ASSIGN_OR_RETURN(qcow2::DirtyBitmap bitmap,
                         qcow2::ReadDirtyBitmap(img.file(), img.header(), name));
  ChangedBlocks out;
  out.volume_size = img.size();
  out.untrusted = std::move(bitmap.untrusted);
  if (out.untrusted.empty()) out.ranges = std::move(bitmap.dirty);
  return out;
}

// The dirty ranges of bitmap `name` as the NBD server at `uri` exports it.
Result<ChangedBlocks> NbdBitmapChanges(const std::string& uri, const std::string& name,
                                       const CancelToken* cancel) {
  if (!nbd::IsNbdUri(uri)) {
    return Err(Status::InvalidArgument(fmt::format(
        "--cbt nbd-bitmap:{} needs an NBD source (nbd://… or nbd+unix://…), and {} is not one",
        name, uri)));
  }
  const std::string context = nbd::DirtyBitmapContext(name);
  FERRY_ASSIGN_OR_RETURN(auto client, nbd::NbdClient::Connect(uri, {context}, cancel));
  if (!client->HasContext(context)) {
    return Err(Status::NotFound(fmt::format(
        "{} does not export {} (qemu-nbd exports a bitmap with -B {}; the bitmap must exist)", uri,
        context, name)));
  }
  ChangedBlocks out;
  out.volume_size = client->size();
  FERRY_ASSIGN_OR_RETURN(out.ranges, client->RangesWhere(context, [](uint32_t flags) {
    return (flags & nbd::kStateDirty) != 0;
  }));
  return out;
}

}  // namespace

std::string CbtSpec::ToString() const {
  if (kind == CbtKind::kHash) return "hash";
  return fmt::format("{}:{}", NameOf(kind), argument);
}

Result<CbtSpec> ParseCbtSpec(std::string_view text) {
  if (text == "hash") return CbtSpec{CbtKind::kHash, {}};
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  for (const KindName& k : kKinds) {
    if (k.kind == CbtKind::kHash || k.name != kind) continue;
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
      return Err(Status::InvalidArgument(
          fmt::format("--cbt {}: needs an argument after '{}:'", text, kind)));
    }
    return CbtSpec{k.kind, std::string(text.substr(colon + 1))};
  }
  return Err(Status::InvalidArgument(
      fmt::format("--cbt {}: expected list:FILE, csi:FILE, qcow2-bitmap:NAME, nbd-bitmap:NAME, "
                  "fiemap:PREVIOUS_FILE or hash",
                  text)));
}

Result<ChangedBlocks> LoadChangedBlocks(const CbtSpec& spec, const std::string& source,
                                        const CancelToken* cancel) {
  if (spec.kind == CbtKind::kFiemap) return FiemapChanges(source, spec.argument);
  if (spec.kind == CbtKind::kQcow2Bitmap) return Qcow2BitmapChanges(source, spec.argument);
  if (spec.kind == CbtKind::kNbdBitmap) return NbdBitmapChanges(source, spec.argument, cancel);
  if (spec.kind == CbtKind::kHash) {
    return Err(Status::NotSupported(
        "--cbt hash compares block hashes with the parent: it has no change list of its own"));
  }
  std::ifstream in(spec.argument, std::ios::binary);
  if (!in) return Err(Status::FromErrno(errno, "open " + spec.argument));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Err(Status::FromErrno(errno, "read " + spec.argument));
  const std::string what = spec.ToString();
  return spec.kind == CbtKind::kList ? ParseChangeList(text.str(), what)
                                     : ParseCsiDelta(text.str(), what);
}

}  // namespace ferry::cbt
