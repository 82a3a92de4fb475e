#include "tos/compression.h"

#include <zlib.h>

#include <cstring>
#include <memory>

namespace tos {
namespace {

// Compressed bytes move in chunks of up to kChunk. A file starts with kFirstChunk and doubles
// toward kChunk only while the chunks come back full, so a small part costs no large buffer.
constexpr size_t kChunk = 1 << 18;
constexpr size_t kFirstChunk = 1 << 12;

class GzipInputFile final : public SequentialFile {
 public:
  explicit GzipInputFile(std::unique_ptr<SequentialFile> base)
      : base_(std::move(base)), in_(new Bytef[kFirstChunk]) {
    std::memset(&strm_, 0, sizeof(strm_));
    init_ok_ = inflateInit2(&strm_, 15 + 32) == Z_OK;  // +32: gzip or zlib header
  }
  ~GzipInputFile() override { inflateEnd(&strm_); }

  Result<size_t> Read(char* buf, size_t n) override {
    if (!init_ok_) return Internal(path() + ": inflateInit2 failed");
    if (done_ || n == 0) return size_t{0};
    strm_.next_out = reinterpret_cast<Bytef*>(buf);
    strm_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    const uInt want = strm_.avail_out;
    while (strm_.avail_out == want) {
      if (strm_.avail_in == 0) {
        if (last_read_filled_ && in_size_ < kChunk) {  // nothing unread is lost: avail_in is 0
          in_size_ *= 2;
          in_.reset(new Bytef[in_size_]);
        }
        TOS_ASSIGN_OR_RETURN(size_t got, base_->Read(reinterpret_cast<char*>(in_.get()), in_size_));
        last_read_filled_ = got == in_size_;
        if (got == 0) {
          // A gzip file holds at least one member (header + trailer, 20 bytes even for no
          // data), so a file with no bytes at all is a lost or unwritten part, not empty data.
          if (compressed_read_ == 0) {
            return DataLoss(path() +
                            ": empty gzip file (0 bytes): not a gzip stream, the part was not "
                            "written or was truncated; rewrite it or remove it from the dataset");
          }
          // End of the compressed file: fine between members, truncation inside one.
          if (!in_member_) {
            done_ = true;
            break;
          }
          return DataLoss(path() + ": truncated gzip stream: compressed data ends at byte " +
                          std::to_string(compressed_read_) + " inside a gzip member (" +
                          std::to_string(uncompressed_ + (want - strm_.avail_out)) +
                          " bytes decompressed)");
        }
        compressed_read_ += got;
        strm_.next_in = in_.get();
        strm_.avail_in = static_cast<uInt>(got);
      }
      if (!in_member_) {
        inflateReset(&strm_);
        in_member_ = true;
      }
      int rc = inflate(&strm_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        in_member_ = false;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        uint64_t at = compressed_read_ - strm_.avail_in;
        return DataLoss(path() + ": corrupt gzip data near compressed byte " + std::to_string(at) +
                        ": " + (strm_.msg ? strm_.msg : zError(rc)));
      }
    }
    size_t produced = want - strm_.avail_out;
    uncompressed_ += produced;
    return produced;
  }

  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<SequentialFile> base_;
  std::unique_ptr<Bytef[]> in_;  // not zero-filled: only what base_ read is used
  size_t in_size_ = kFirstChunk;
  bool last_read_filled_ = false;
  z_stream strm_;
  bool init_ok_ = false;
  bool in_member_ = false;
  bool done_ = false;
  uint64_t compressed_read_ = 0;
  uint64_t uncompressed_ = 0;
};

class GzipWritableFile final : public WritableFile {
 public:
  GzipWritableFile(std::unique_ptr<WritableFile> base, int level)
      : base_(std::move(base)), out_(new Bytef[kFirstChunk]) {
    std::memset(&strm_, 0, sizeof(strm_));
    init_ok_ = deflateInit2(&strm_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipWritableFile() override {
    // Destroyed without Close(): the caller gave up on this file (its errors come from Close).
    if (!closed_) (void)Close();
    deflateEnd(&strm_);
  }

  Status Append(std::string_view data) override {
    if (!init_ok_) return Internal(path() + ": deflateInit2 failed");
    if (closed_) return Internal(path() + ": append after close");
    while (!data.empty()) {
      size_t take = std::min<size_t>(data.size(), 1u << 30);
      strm_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      strm_.avail_in = static_cast<uInt>(take);
      TOS_RETURN_IF_ERROR(Deflate(Z_NO_FLUSH));
      data.remove_prefix(take);
    }
    return Status::OK();
  }

  Status Flush() override {
    if (closed_) return Internal(path() + ": flush after close");
    TOS_RETURN_IF_ERROR(Deflate(Z_SYNC_FLUSH));
    return base_->Flush();
  }

  Status Close() override {
    if (closed_) return Status::OK();
    closed_ = true;
    Status s = init_ok_ ? Deflate(Z_FINISH) : Internal(path() + ": deflateInit2 failed");
    Status c = base_->Close();
    return s.ok() ? c : s;
  }

  const std::string& path() const override { return base_->path(); }

 private:
  Status Deflate(int flush) {
    for (;;) {
      strm_.next_out = out_.get();
      strm_.avail_out = static_cast<uInt>(out_size_);
      int rc = deflate(&strm_, flush);
      if (rc == Z_STREAM_ERROR) return Internal(path() + ": deflate failed");
      size_t have = out_size_ - strm_.avail_out;
      if (have > 0) {
        TOS_RETURN_IF_ERROR(
            base_->Append(std::string_view(reinterpret_cast<const char*>(out_.get()), have)));
      }
      if (strm_.avail_out == 0 && out_size_ < kChunk) {  // the chunk came back full: grow it
        out_size_ *= 2;
        out_.reset(new Bytef[out_size_]);
      }
      if (flush == Z_FINISH) {
        if (rc == Z_STREAM_END) return Status::OK();
      } else if (strm_.avail_in == 0 && strm_.avail_out != 0) {
        return Status::OK();
      }
    }
  }

  std::unique_ptr<WritableFile> base_;
  std::unique_ptr<Bytef[]> out_;  // not zero-filled: only what deflate wrote is used
  size_t out_size_ = kFirstChunk;
  z_stream strm_;
  bool init_ok_ = false;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<SequentialFile> NewGzipInputFile(std::unique_ptr<SequentialFile> base) {
  return std::make_unique<GzipInputFile>(std::move(base));
}

std::unique_ptr<WritableFile> NewGzipWritableFile(std::unique_ptr<WritableFile> base, int level) {
  return std::make_unique<GzipWritableFile>(std::move(base), level);
}

Result<std::unique_ptr<SequentialFile>> OpenInputFile(const std::string& uri, Compression c) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
  TOS_ASSIGN_OR_RETURN(auto file, fs->NewSequentialFile(uri));
  if (c == Compression::kGzip) return NewGzipInputFile(std::move(file));
  return file;
}

Result<std::unique_ptr<WritableFile>> OpenOutputFile(const std::string& uri, Compression c,
                                                     int gzip_level) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
  TOS_ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(uri));
  if (c == Compression::kGzip) return NewGzipWritableFile(std::move(file), gzip_level);
  return file;
}

bool LooksGzipped(std::string_view head) {
  return head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
         static_cast<unsigned char>(head[1]) == 0x8b;
}

}  // namespace tos
