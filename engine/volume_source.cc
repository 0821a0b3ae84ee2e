#include "engine/volume_source.h"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"

#include "cbt/allocation.h"
#include "transports/nbd/nbd_client.h"

namespace ferry {

namespace {

// A raw file, block device or pipe: SequentialReader streams it; ReadAt uses a second,
// buffered descriptor.
class RawSource final : public VolumeSource {
 public:
  RawSource(std::unique_ptr<SequentialReader> reader, VolumeSourceOptions options)
      : reader_(std::move(reader)), options_(std::move(options)) {}
  ~RawSource() override {
    if (random_fd_ >= 0) ::close(random_fd_);
  }
  RawSource(const RawSource&) = delete;
  RawSource& operator=(const RawSource&) = delete;

  const std::string& path() const override { return reader_->path(); }
  uint64_t size() const override { return reader_->size(); }
  bool is_pipe() const override { return reader_->is_pipe(); }
  std::string_view format() const override { return "raw"; }
  std::string_view backend_name() const override { return reader_->backend_name(); }
  const std::string& fallback_reason() const override { return reader_->fallback_reason(); }
  Result<cbt::ExtentList> DataRanges() override {
    return cbt::AllocatedRanges(reader_->fd(), reader_->size(), reader_->path());
  }
  void SetRanges(cbt::ExtentList ranges) override { reader_->SetRanges(std::move(ranges)); }
  Result<SourceBuffer> NextBuffer() override { return reader_->NextBuffer(); }
  Status ReadAt(MutableByteView out, uint64_t offset) override {
    if (random_fd_ < 0) {
      random_fd_ = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
      if (random_fd_ < 0) return Status::FromErrno(errno, "open " + path());
    }
    FERRY_ASSIGN_OR_RETURN(size_t n, ReadFullAt(random_fd_, out, offset, path()));
    if (n != out.size()) {
      return Status::IoError(
          fmt::format("read {} at offset {}: the source shrank or vanished during the read", path(),
                      offset + n));
    }
    return Status();
  }
  Result<std::unique_ptr<VolumeSource>> OpenAgain() const override {
    VolumeSourceOptions o = options_;
    o.format = qcow2::ImageFormat::kRaw;
    return VolumeSource::Open(path(), o);
  }

 private:
  std::unique_ptr<SequentialReader> reader_;
  VolumeSourceOptions options_;
  int random_fd_ = -1;
};

// Fails a read that does not lie inside the volume.
Status CheckInside(const VolumeSource& source, MutableByteView out, uint64_t offset) {
  if (offset > source.size() || out.size() > source.size() - offset) {
    return Status::IoError(
        fmt::format("read {} at offset {}: past the end of the volume", source.path(), offset));
  }
  return Status();
}

// A source read a buffer at a time through ReadAt(), synchronously, over the ranges asked for.
class RangedSource : public VolumeSource {
 public:
  RangedSource(uint64_t size, VolumeSourceOptions options)
      : options_(std::move(options)),
        ranges_{{0, size}},
        buffer_(options_.reader.buffer_size, '\0') {}

  const std::string& fallback_reason() const override { return no_fallback_; }
  void SetRanges(cbt::ExtentList ranges) override {
    ranges_ = std::move(ranges);
    range_ = 0;
    cursor_ = ranges_.empty() ? 0 : ranges_.front().offset;
  }
  Result<SourceBuffer> NextBuffer() override {
    while (range_ < ranges_.size() && cursor_ >= ranges_[range_].end()) {
      if (++range_ < ranges_.size()) cursor_ = ranges_[range_].offset;
    }
    if (range_ == ranges_.size()) return SourceBuffer{cursor_, {}};
    const uint64_t n = std::min<uint64_t>(buffer_.size(), ranges_[range_].end() - cursor_);
    const MutableByteView out = AsWritableBytes(buffer_).first(n);
    FERRY_RETURN_IF_ERROR(ReadAt(out, cursor_));
    SourceBuffer b{cursor_, out};
    cursor_ += n;
    return b;
  }

 protected:
  const VolumeSourceOptions options_;

 private:
  cbt::ExtentList ranges_;
  size_t range_ = 0;
  uint64_t cursor_ = 0;
  std::string buffer_;
  std::string no_fallback_;
};

// A disk image in a container format: the guest bytes come from qcow2::Image.
class ImageSource final : public RangedSource {
 public:
  ImageSource(std::unique_ptr<qcow2::Image> image, VolumeSourceOptions options)
      : RangedSource(image->size(), std::move(options)), image_(std::move(image)) {}

  const std::string& path() const override { return image_->path(); }
  uint64_t size() const override { return image_->size(); }
  std::string_view format() const override { return image_->format(); }
  std::string_view backend_name() const override { return "pread"; }
  Result<cbt::ExtentList> DataRanges() override { return image_->DataRanges(); }
  Status ReadAt(MutableByteView out, uint64_t offset) override {
    FERRY_RETURN_IF_ERROR(CheckInside(*this, out, offset));
    return image_->Read(out, offset);
  }
  Result<std::unique_ptr<VolumeSource>> OpenAgain() const override {
    VolumeSourceOptions o = options_;
    o.format = image_->format() == "qcow2" ? qcow2::ImageFormat::kQcow2 : qcow2::ImageFormat::kRaw;
    return VolumeSource::Open(path(), o);
  }

 private:
  std::unique_ptr<qcow2::Image> image_;
};

// One NBD connection and the sources reading through it. A server that does not advertise
// multi-conn may serve one client at a time (qemu-nbd's default): a second connection would wait
// for the first to close, so the sources OpenAgain() makes share this one instead, one call at
// a time.
struct NbdConnection {
  std::mutex mu;
  std::unique_ptr<nbd::NbdClient> client;  // GUARDED_BY(mu)
  const void* streaming = nullptr;         // GUARDED_BY(mu): the source whose stream is open.
};

// An NBD export: data through libnbd, streamed with reads in flight; allocation from
// base:allocation when the server has it.
class NbdSource final : public VolumeSource {
 public:
  NbdSource(std::shared_ptr<NbdConnection> connection, VolumeSourceOptions options)
      : connection_(std::move(connection)),
        options_(std::move(options)),
        uri_(connection_->client->uri()),
        size_(connection_->client->size()),
        ranges_{{0, size_}} {}
  ~NbdSource() override {
    std::lock_guard lock(connection_->mu);
    if (connection_->streaming == this) connection_->streaming = nullptr;
  }
  NbdSource(const NbdSource&) = delete;
  NbdSource& operator=(const NbdSource&) = delete;

  const std::string& path() const override { return uri_; }
  uint64_t size() const override { return size_; }
  std::string_view format() const override { return "nbd"; }
  std::string_view backend_name() const override { return "libnbd"; }
  const std::string& fallback_reason() const override { return no_fallback_; }
  Result<cbt::ExtentList> DataRanges() override {
    std::lock_guard lock(connection_->mu);
    nbd::NbdClient& client = *connection_->client;
    if (!client.HasContext(nbd::kBaseAllocation)) return cbt::ExtentList{{0, size()}};
    return client.RangesWhere(nbd::kBaseAllocation,
                              [](uint32_t flags) { return (flags & nbd::kStateZero) == 0; });
  }
  void SetRanges(cbt::ExtentList ranges) override { ranges_ = std::move(ranges); }
  Result<SourceBuffer> NextBuffer() override {
    std::lock_guard lock(connection_->mu);
    nbd::NbdClient& client = *connection_->client;
    if (!streaming_) {
      if (connection_->streaming != nullptr) {
        return Err(Status::InvalidArgument(fmt::format(
            "{}: two streams at once over one NBD connection (the server does not allow more)",
            uri_)));
      }
      // As much in flight as the read-ahead budget of a file, in the stream's pieces.
      nbd::NbdStreamOptions stream;
      const size_t budget = size_t{options_.reader.buffers} * options_.reader.buffer_size;
      stream.depth = static_cast<unsigned>(
          std::clamp<size_t>(budget / stream.piece_size, 4, nbd::kMaxStreamDepth));
      client.StartStream(std::move(ranges_), stream);
      streaming_ = true;
      connection_->streaming = this;
    }
    FERRY_ASSIGN_OR_RETURN(nbd::NbdPiece piece, client.NextPiece());
    if (piece.data.empty() && connection_->streaming == this) connection_->streaming = nullptr;
    return SourceBuffer{piece.offset, piece.data};
  }
  Status ReadAt(MutableByteView out, uint64_t offset) override {
    FERRY_RETURN_IF_ERROR(CheckInside(*this, out, offset));
    std::lock_guard lock(connection_->mu);
    return connection_->client->Read(out, offset);
  }
  Result<std::unique_ptr<VolumeSource>> OpenAgain() const override {
    {
      std::lock_guard lock(connection_->mu);
      if (!connection_->client->can_multi_conn()) {
        return std::unique_ptr<VolumeSource>(new NbdSource(connection_, options_));
      }
    }
    return VolumeSource::Open(path(), options_);
  }

 private:
  const std::shared_ptr<NbdConnection> connection_;
  const VolumeSourceOptions options_;
  const std::string uri_;
  const uint64_t size_;
  cbt::ExtentList ranges_;  // Handed to the client when the stream starts.
  bool streaming_ = false;
  std::string no_fallback_;
};

}  // namespace

Result<std::unique_ptr<VolumeSource>> VolumeSource::Open(const std::string& path,
                                                         const VolumeSourceOptions& options) {
  if (nbd::IsNbdUri(path)) {
    FERRY_ASSIGN_OR_RETURN(
        auto client,
        nbd::NbdClient::Connect(path, {std::string(nbd::kBaseAllocation)}, options.cancel));
    auto connection = std::make_shared<NbdConnection>();
    connection->client = std::move(client);
    return std::unique_ptr<VolumeSource>(new NbdSource(std::move(connection), options));
  }
  qcow2::ImageFormat format = options.format;
  if (path == "-") {
    if (format == qcow2::ImageFormat::kQcow2) {
      return Err(Status::InvalidArgument("a QCOW2 image cannot be read from standard input"));
    }
    format = qcow2::ImageFormat::kRaw;
  }
  if (format == qcow2::ImageFormat::kAuto) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Err(Status::FromErrno(errno, "open " + path));
    format = qcow2::ImageFormat::kRaw;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
      FERRY_ASSIGN_OR_RETURN(auto file, qcow2::OpenImageFile(path));
      FERRY_ASSIGN_OR_RETURN(format, qcow2::ProbeImageFormat(*file));
    }
  }
  if (format == qcow2::ImageFormat::kQcow2) {
    qcow2::OpenImageOptions o;
    o.format = format;
    FERRY_ASSIGN_OR_RETURN(auto image, qcow2::OpenImage(path, o));
    return std::unique_ptr<VolumeSource>(new ImageSource(std::move(image), options));
  }
  FERRY_ASSIGN_OR_RETURN(auto reader, SequentialReader::Open(path, options.reader));
  return std::unique_ptr<VolumeSource>(new RawSource(std::move(reader), options));
}

}  // namespace ferry
