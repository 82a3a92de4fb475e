// TFRecord files, byte-compatible with TensorFlow's tf.io.TFRecordWriter / TFRecordDataset
// (also the framing of TensorBoard event files). Spec: docs/formats.md#tfrecord.
//
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes)
//   byte   data[length]           | uint32 masked_crc32c(data)
//
// Threading: one writer or reader per thread; different files may be used concurrently.
// Errors: Status/Result, never exceptions; corruption is DataLoss naming file and byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tos/compression.h"
#include "tos/fs.h"
#include "tos/status.h"

namespace tos {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI, LevelDB and TensorFlow.
// Uses the SSE4.2 crc32 instruction when the CPU has it. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n);
// The CRC of concat(A, data) given crc == Crc32c(A).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// TensorFlow stores CRCs masked, so that a CRC of data holding CRCs stays well distributed:
// ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t MaskCrc32c(uint32_t crc);
uint32_t UnmaskCrc32c(uint32_t masked);

class TfRecordWriter {
 public:
  // Creates or truncates `path` (any registered file system). kGzip compresses the whole file
  // (what TFRecordOptions(compression_type="GZIP") reads).
  static Result<std::unique_ptr<TfRecordWriter>> Create(const std::string& path,
                                                        Compression c = Compression::kNone);
  // Wraps an already-open file (a temporary part file, an in-memory file).
  explicit TfRecordWriter(std::unique_ptr<WritableFile> file);
  ~TfRecordWriter();  // closes if Close() was not called, dropping any error

  // Appends one record. Blocks only when the internal buffer is flushed to the file.
  Status Write(std::string_view record);
  Status Flush();
  // Flushes and closes the file; later calls return OK and do nothing.
  Status Close();

  uint64_t bytes_written() const { return bytes_; }  // framed, before compression
  uint64_t records_written() const { return records_; }

 private:
  std::unique_ptr<WritableFile> file_;
  std::string buffer_;
  uint64_t bytes_ = 0;
  uint64_t records_ = 0;
  bool closed_ = false;
};

class TfRecordReader {
 public:
  static Result<std::unique_ptr<TfRecordReader>> Open(const std::string& path,
                                                      Compression c = Compression::kNone);
  explicit TfRecordReader(std::unique_ptr<SequentialFile> file);
  ~TfRecordReader();

  // Reads the next record into *record (its previous contents are replaced). Returns false at
  // a clean end of file; DataLoss naming the file and byte offset for a CRC mismatch or a
  // record cut short.
  Result<bool> Next(std::string* record);
  // Like Next, but the view points into the reader's buffer and stays valid until the next
  // call. Saves a copy per record.
  Result<bool> NextView(std::string_view* record);
  // Byte offset (in the decompressed stream) where the next record starts.
  uint64_t offset() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tos
