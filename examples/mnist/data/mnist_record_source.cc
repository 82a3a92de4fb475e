#include "mnist_dataset.h"

namespace tos {
namespace {

class Reader : public PartitionReader {
 public:
  explicit Reader(std::unique_ptr<MnistPartitionReader> inner) : inner_(std::move(inner)) {}
  Result<bool> Next(std::string_view* record) override {
    TOS_ASSIGN_OR_RETURN(bool more, inner_->Next(buf_));
    if (!more) return false;
    *record = std::string_view(reinterpret_cast<const char*>(buf_), kMnistRecordBytes);
    return true;
  }

 private:
  std::unique_ptr<MnistPartitionReader> inner_;
  uint8_t buf_[kMnistRecordBytes];
};

class Source : public RecordSource {
 public:
  explicit Source(std::unique_ptr<MnistDataset> ds) : ds_(std::move(ds)) {}
  size_t num_partitions() const override { return ds_->num_partitions(); }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t i) const override {
    TOS_ASSIGN_OR_RETURN(auto inner, ds_->OpenPartition(i));
    return std::unique_ptr<PartitionReader>(new Reader(std::move(inner)));
  }
  std::string Describe() const override {
    return ds_->spec().images + " (" + DataFormatName(ds_->spec().format) + ", " +
           std::to_string(ds_->num_partitions()) + " partitions)";
  }

 private:
  std::unique_ptr<MnistDataset> ds_;
};

}  // namespace

Result<std::unique_ptr<RecordSource>> OpenMnistRecordSource(const MnistDatasetSpec& spec) {
  TOS_ASSIGN_OR_RETURN(auto ds, MnistDataset::Open(spec));
  return std::unique_ptr<RecordSource>(new Source(std::move(ds)));
}

}  // namespace tos
