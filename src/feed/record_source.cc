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

class LineReader : public PartitionReader {
 public:
  explicit LineReader(std::unique_ptr<BufferedReader> in) : in_(std::move(in)) {}
  Result<bool> Next(std::string_view* record) override { return in_->ReadLine(record); }

 private:
  std::unique_ptr<BufferedReader> in_;
};

class TextDataset : public RecordSource {
 public:
  TextDataset(std::string dir, std::vector<std::string> parts)
      : dir_(std::move(dir)), parts_(std::move(parts)) {}
  size_t num_partitions() const override { return parts_.size(); }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t i) const override {
    if (i >= parts_.size())
      return InvalidArgument("partition " + std::to_string(i) + " out of range");
    TOS_ASSIGN_OR_RETURN(auto in, OpenBufferedPart(parts_[i]));
    return std::unique_ptr<PartitionReader>(new LineReader(std::move(in)));
  }
  std::string Describe() const override {
    return dir_ + " (text, " + std::to_string(parts_.size()) + " partitions)";
  }

 private:
  std::string dir_;
  std::vector<std::string> parts_;  // part URIs in partition order
};

}  // namespace

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
