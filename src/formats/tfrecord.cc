#include "tos/tfrecord.h"

#include <cstring>

#include "io/buffered_reader.h"

namespace tos {
namespace {

constexpr size_t kHeaderBytes = 12;  // uint64 length + uint32 masked CRC of the length
constexpr size_t kFooterBytes = 4;   // uint32 masked CRC of the data
constexpr size_t kWriteBuffer = 1 << 20;

inline void PutFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetFixed32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 | uint32_t{u[3]} << 24;
}
inline uint64_t GetFixed64(const char* p) {
  return uint64_t{GetFixed32(p)} | uint64_t{GetFixed32(p + 4)} << 32;
}

}  // namespace

// ---- writer ----

Result<std::unique_ptr<TfRecordWriter>> TfRecordWriter::Create(const std::string& path,
                                                               Compression c) {
  TOS_ASSIGN_OR_RETURN(auto file, OpenOutputFile(path, c));
  return std::make_unique<TfRecordWriter>(std::move(file));
}

TfRecordWriter::TfRecordWriter(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {
  buffer_.reserve(kWriteBuffer + 64);
}

TfRecordWriter::~TfRecordWriter() {
  // Destroyed without Close(): a caller that wanted the data checked Close(). The file layer
  // underneath commits only on a successful Close (partitioned_dir.cc), so nothing half
  // written is published here.
  if (!closed_) (void)Close();
}

Status TfRecordWriter::Write(std::string_view record) {
  if (closed_) return Internal(file_->path() + ": write after close");
  char header[kHeaderBytes];
  PutFixed64(header, record.size());
  PutFixed32(header + 8, MaskCrc32c(Crc32c(header, 8)));
  char footer[kFooterBytes];
  PutFixed32(footer, MaskCrc32c(Crc32c(record.data(), record.size())));
  buffer_.append(header, kHeaderBytes);
  if (record.size() >= kWriteBuffer) {
    TOS_RETURN_IF_ERROR(file_->Append(buffer_));
    buffer_.clear();
    TOS_RETURN_IF_ERROR(file_->Append(record));
  } else {
    buffer_.append(record);
  }
  buffer_.append(footer, kFooterBytes);
  if (buffer_.size() >= kWriteBuffer) {
    TOS_RETURN_IF_ERROR(file_->Append(buffer_));
    buffer_.clear();
  }
  bytes_ += kHeaderBytes + record.size() + kFooterBytes;
  ++records_;
  return Status::OK();
}

Status TfRecordWriter::Flush() {
  if (closed_) return Internal(file_->path() + ": flush after close");
  if (!buffer_.empty()) {
    TOS_RETURN_IF_ERROR(file_->Append(buffer_));
    buffer_.clear();
  }
  return file_->Flush();
}

Status TfRecordWriter::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status s;
  if (!buffer_.empty()) s = file_->Append(buffer_);
  buffer_.clear();
  Status c = file_->Close();
  return s.ok() ? c : s;
}

// ---- reader ----

struct TfRecordReader::Impl {
  explicit Impl(std::unique_ptr<SequentialFile> f) : in(std::move(f)) {}
  BufferedReader in;
};

Result<std::unique_ptr<TfRecordReader>> TfRecordReader::Open(const std::string& path,
                                                             Compression c) {
  TOS_ASSIGN_OR_RETURN(auto file, OpenInputFile(path, c));
  return std::make_unique<TfRecordReader>(std::move(file));
}

TfRecordReader::TfRecordReader(std::unique_ptr<SequentialFile> file)
    : impl_(std::make_unique<Impl>(std::move(file))) {}

TfRecordReader::~TfRecordReader() = default;

uint64_t TfRecordReader::offset() const { return impl_->in.offset(); }
const std::string& TfRecordReader::path() const { return impl_->in.path(); }

Result<bool> TfRecordReader::NextView(std::string_view* record) {
  BufferedReader& in = impl_->in;
  const uint64_t start = in.offset();
  TOS_ASSIGN_OR_RETURN(size_t have, in.Fill(kHeaderBytes));
  if (have == 0) return false;
  if (have < kHeaderBytes) {
    return DataLoss(path() + ": truncated record at byte " + std::to_string(start) +
                    ": the file ends " + std::to_string(have) + " bytes into the " +
                    std::to_string(kHeaderBytes) + "-byte record header");
  }
  const char* h = in.data();
  if (MaskCrc32c(Crc32c(h, 8)) != GetFixed32(h + 8)) {
    return DataLoss(path() + ": corrupt record at byte " + std::to_string(start) +
                    ": length CRC mismatch");
  }
  const uint64_t length = GetFixed64(h);
  if (length > (uint64_t{1} << 40)) {
    return DataLoss(path() + ": corrupt record at byte " + std::to_string(start) +
                    ": implausible length " + std::to_string(length));
  }
  const size_t total = kHeaderBytes + static_cast<size_t>(length) + kFooterBytes;
  TOS_ASSIGN_OR_RETURN(have, in.Fill(total));
  if (have < total) {
    return DataLoss(path() + ": truncated record at byte " + std::to_string(start) +
                    ": header says " + std::to_string(length) + " data bytes but the file ends " +
                    std::to_string(have) + " bytes into the " + std::to_string(total) +
                    "-byte record");
  }
  const char* data = in.data() + kHeaderBytes;
  if (MaskCrc32c(Crc32c(data, length)) != GetFixed32(data + length)) {
    return DataLoss(path() + ": corrupt record at byte " + std::to_string(start) +
                    ": data CRC mismatch (" + std::to_string(length) + " data bytes)");
  }
  *record = std::string_view(data, length);
  in.Consume(total);
  return true;
}

Result<bool> TfRecordReader::Next(std::string* record) {
  std::string_view view;
  TOS_ASSIGN_OR_RETURN(bool ok, NextView(&view));
  if (ok) {
    record->assign(view.data(), view.size());
  } else {
    record->clear();
  }
  return ok;
}

}  // namespace tos
