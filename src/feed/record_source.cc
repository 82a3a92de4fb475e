#include "tos/record_source.h"

#include "io/buffered_reader.h"
#include "tos/partitioned_dir.h"

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

class TextDataset : public RecordSource {
 public:
  TextDataset(std::string dir, std::vector<std::string> parts)
      : dir_(std::move(dir)), parts_(std::move(parts)) {}
  size_t num_partitions() const override { return parts_.size(); }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t i) const override {
    if (i >= parts_.size())
      return InvalidArgument("partition " + std::to_string(i) + " out of range");
    TOS_ASSIGN_OR_RETURN(auto in, TextFileReader::Open(parts_[i]));
    return std::unique_ptr<PartitionReader>(std::move(in));
  }
  std::string Describe() const override {
    return dir_ + " (text, " + std::to_string(parts_.size()) + " partitions)";
  }
  std::string encoding() const override { return "text"; }  // lines, as Spark's str elements

 private:
  std::string dir_;
  std::vector<std::string> parts_;  // part URIs in partition order
};

}  // namespace

TextFileReader::TextFileReader(std::unique_ptr<BufferedReader> in) : in_(std::move(in)) {}
TextFileReader::~TextFileReader() = default;

Result<std::unique_ptr<TextFileReader>> TextFileReader::Open(const std::string& uri) {
  TOS_ASSIGN_OR_RETURN(auto in, OpenBufferedPart(uri));
  return std::unique_ptr<TextFileReader>(new TextFileReader(std::move(in)));
}

Result<bool> TextFileReader::Next(std::string_view* line) { return in_->ReadLine(line); }
uint64_t TextFileReader::line_number() const { return in_->line_number(); }
const std::string& TextFileReader::path() const { return in_->path(); }
std::string TextFileReader::Where() const {
  return path() + ": line " + std::to_string(line_number());
}

Result<std::unique_ptr<PartitionReader>> VectorRecordSource::OpenPartition(size_t index) const {
  if (index >= partitions_.size()) return InvalidArgument("partition out of range");
  return std::unique_ptr<PartitionReader>(new VectorReader(&partitions_[index]));
}

std::string VectorRecordSource::Describe() const {
  return "in-memory records (" + std::to_string(partitions_.size()) + " partitions)";
}

Result<std::unique_ptr<RecordSource>> OpenTextDataset(const std::string& dir,
                                                      bool allow_incomplete) {
  TOS_ASSIGN_OR_RETURN(auto parts, ListPartFiles(dir, allow_incomplete));
  return std::unique_ptr<RecordSource>(new TextDataset(dir, std::move(parts)));
}

}  // namespace tos
