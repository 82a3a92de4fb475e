// BufferedReader: a window over a SequentialFile for parsers that look ahead a few bytes
// (TFRecord headers) or a line at a time (CSV). Memory is the buffer, grown only as far as the
// longest record or line asked for, never the file. The buffer starts at kInitialBufferSize
// and reaches the size asked for only while the file keeps filling it, so a small file never
// costs a large buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/fs.h"

namespace tos {

class BufferedReader {
 public:
  static constexpr size_t kDefaultBufferSize = 1 << 18;
  static constexpr size_t kInitialBufferSize = 4 << 10;
  // Lines longer than this are refused as DataLoss (a binary file read as text).
  static constexpr size_t kMaxLineLength = 64 << 20;

  explicit BufferedReader(std::unique_ptr<SequentialFile> file,
                          size_t buffer_size = kDefaultBufferSize);

  // Makes at least n bytes available at data() unless the file ends first. Returns how many
  // are available (less than n only at end of file).
  Result<size_t> Fill(size_t n);
  const char* data() const { return buf_.get() + begin_; }
  size_t available() const { return end_ - begin_; }
  void Consume(size_t n) {
    begin_ += n;
    offset_ += n;
  }
  // Byte offset in the (decompressed) stream of data()[0].
  uint64_t offset() const { return offset_; }

  // Reads the next line without its "\n" (and without a "\r" before it). The view stays
  // valid until the next call. false at end of file; a last line without "\n" is returned.
  Result<bool> ReadLine(std::string_view* line);
  // 1-based number of the line last returned by ReadLine.
  uint64_t line_number() const { return line_number_; }

  const std::string& path() const { return file_->path(); }

 private:
  // Moves unread bytes to the front and reads once more; returns bytes added (0 at EOF).
  Result<size_t> ReadMore();

  std::unique_ptr<SequentialFile> file_;
  // Not zero-filled: only the bytes the file put there ([begin_, end_)) are ever read.
  std::unique_ptr<char[]> buf_;
  size_t capacity_;         // of buf_
  size_t target_capacity_;  // the buffer size asked for
  bool last_read_filled_ = false;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t offset_ = 0;
  uint64_t line_number_ = 0;
  bool eof_ = false;
};

// Opens a dataset part for buffered reading; a name ending in ".gz" is read through gzip.
Result<std::unique_ptr<BufferedReader>> OpenBufferedPart(const std::string& uri);

}  // namespace tos
