#include "tos/record_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tos {
namespace {

class VectorReader : public PartitionReader {
 public:
  explicit VectorReader(const std::vector<std::string>* records) : records_(records) {}
  Result<bool> Next(std::string_view* record) override {
    if (i_ >= records_->size()) return false;
    *record = (*records_)[i_++];
    return true;
  }

 private:
  const std::vector<std::string>* records_;
  size_t i_ = 0;
};

// Buffered line reader over a POSIX file: memory bounded by the buffer, not the file.
class LineReader : public PartitionReader {
 public:
  LineReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) { buf_.resize(1 << 20); }
  ~LineReader() override { ::close(fd_); }

  Result<bool> Next(std::string_view* record) override {
    for (;;) {
      char* nl = static_cast<char*>(std::memchr(buf_.data() + pos_, '\n', end_ - pos_));
      if (nl) {
        size_t len = nl - (buf_.data() + pos_);
        *record = std::string_view(buf_.data() + pos_, len);
        if (len > 0 && (*record)[len - 1] == '\r') record->remove_suffix(1);
        pos_ += len + 1;
        ++line_;
        return true;
      }
      if (eof_) {
        if (pos_ < end_) {  // last line without newline
          *record = std::string_view(buf_.data() + pos_, end_ - pos_);
          pos_ = end_;
          ++line_;
          return true;
        }
        return false;
      }
      // Compact and refill; grow when one line fills the buffer.
      std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
      end_ -= pos_;
      pos_ = 0;
      if (end_ == buf_.size()) {
        if (buf_.size() >= (64u << 20)) {
          return DataLoss(path_ + ": line " + std::to_string(line_ + 1) + " is longer than 64 MiB");
        }
        buf_.resize(buf_.size() * 2);
      }
      ssize_t r = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(path_ + ": read", errno);
      }
      if (r == 0) eof_ = true;
      end_ += static_cast<size_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_;
  std::string buf_;
  size_t pos_ = 0, end_ = 0;
  uint64_t line_ = 0;
  bool eof_ = false;
};

class TextDataset : public RecordSource {
 public:
  TextDataset(std::string dir, std::vector<std::string> parts) : dir_(std::move(dir)), parts_(std::move(parts)) {}
  size_t num_partitions() const override { return parts_.size(); }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t i) const override {
    if (i >= parts_.size()) return InvalidArgument("partition " + std::to_string(i) + " out of range");
    std::string path = dir_ + "/" + parts_[i];
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open " + path, errno);
    return std::unique_ptr<PartitionReader>(new LineReader(path, fd));
  }
  std::string Describe() const override {
    return dir_ + " (text, " + std::to_string(parts_.size()) + " partitions)";
  }

 private:
  std::string dir_;
  std::vector<std::string> parts_;
};

std::string StripFileScheme(const std::string& p) {
  return p.rfind("file://", 0) == 0 ? p.substr(7) : p;
}

}  // namespace

Result<std::unique_ptr<PartitionReader>> VectorRecordSource::OpenPartition(size_t index) const {
  if (index >= partitions_.size()) return InvalidArgument("partition out of range");
  return std::unique_ptr<PartitionReader>(new VectorReader(&partitions_[index]));
}

std::string VectorRecordSource::Describe() const {
  return "in-memory records (" + std::to_string(partitions_.size()) + " partitions)";
}

Result<std::unique_ptr<RecordSource>> OpenTextDataset(const std::string& uri, bool allow_incomplete) {
  std::string dir = StripFileScheme(uri);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoError("dataset directory " + dir, errno);
  std::vector<std::string> parts;
  bool success = false;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "_SUCCESS") success = true;
    if (name.rfind("part-", 0) == 0 && name.find(".tmp") == std::string::npos) parts.push_back(name);
  }
  ::closedir(d);
  if (!success && !allow_incomplete) {
    return NotFound(dir + " has no _SUCCESS marker: the dataset is incomplete (still being "
                    "written, or its writer failed); rewrite it, or pass --allow-incomplete");
  }
  std::sort(parts.begin(), parts.end());
  return std::unique_ptr<RecordSource>(new TextDataset(dir, std::move(parts)));
}

}  // namespace tos
