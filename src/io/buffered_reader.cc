#include "io/buffered_reader.h"

#include <algorithm>
#include <cstring>

#include "tos/compression.h"

namespace tos {

BufferedReader::BufferedReader(std::unique_ptr<SequentialFile> file, size_t buffer_size)
    : file_(std::move(file)), target_capacity_(std::max<size_t>(buffer_size, 64)) {
  capacity_ = std::min(target_capacity_, kInitialBufferSize);
  buf_.reset(new char[capacity_]);
}

Result<size_t> BufferedReader::ReadMore() {
  if (eof_) return size_t{0};
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Double when the buffer is full of unread bytes (a record or line longer than it), or on the
  // way to the size asked for while each read fills all the room it is given.
  if (end_ == capacity_ || (last_read_filled_ && capacity_ < target_capacity_)) {
    size_t grown = capacity_ * 2;
    if (end_ < capacity_) grown = std::min(grown, target_capacity_);
    std::unique_ptr<char[]> bigger(new char[grown]);
    std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    capacity_ = grown;
  }
  const size_t room = capacity_ - end_;
  TOS_ASSIGN_OR_RETURN(size_t got, file_->Read(buf_.get() + end_, room));
  if (got == 0) eof_ = true;
  last_read_filled_ = got == room;
  end_ += got;
  return got;
}

Result<size_t> BufferedReader::Fill(size_t n) {
  // ReadMore doubles the buffer only when it is full of unread bytes, so a bogus large n costs
  // memory in proportion to the bytes the file really holds.
  while (available() < n) {
    TOS_ASSIGN_OR_RETURN(size_t got, ReadMore());
    if (got == 0) break;
  }
  return available();
}

Result<bool> BufferedReader::ReadLine(std::string_view* line) {
  size_t scanned = 0;
  for (;;) {
    const char* start = data();
    const void* nl = std::memchr(start + scanned, '\n', available() - scanned);
    if (nl != nullptr) {
      size_t len = static_cast<const char*>(nl) - start;
      size_t keep = (len > 0 && start[len - 1] == '\r') ? len - 1 : len;
      *line = std::string_view(start, keep);
      Consume(len + 1);
      ++line_number_;
      return true;
    }
    scanned = available();
    if (scanned > kMaxLineLength) {
      return DataLoss(path() + ": line " + std::to_string(line_number_ + 1) + " at byte " +
                      std::to_string(offset_) + " is longer than " +
                      std::to_string(kMaxLineLength) + " bytes (not a text file?)");
    }
    TOS_ASSIGN_OR_RETURN(size_t got, ReadMore());
    if (got == 0) {
      if (available() == 0) return false;
      size_t len = available();
      const char* s = data();
      size_t keep = (s[len - 1] == '\r') ? len - 1 : len;
      *line = std::string_view(s, keep);
      Consume(len);
      ++line_number_;
      return true;
    }
  }
}

Result<std::unique_ptr<BufferedReader>> OpenBufferedPart(const std::string& uri) {
  const bool gz = uri.size() >= 3 && uri.compare(uri.size() - 3, 3, ".gz") == 0;
  TOS_ASSIGN_OR_RETURN(auto file, OpenInputFile(uri, gz ? Compression::kGzip : Compression::kNone));
  return std::make_unique<BufferedReader>(std::move(file));
}

}  // namespace tos
