#include "mnist_dataset.h"

#include "mnist_pickle.h"
#include "tos/partitioned_dir.h"
#include "tos/record_source.h"
#include "tos/tfrecord.h"

namespace tos {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Compression CompressionFor(const std::string& part) {
  return EndsWith(part, ".gz") ? Compression::kGzip : Compression::kNone;
}

class Csv2PartitionReader final : public MnistPartitionReader {
 public:
  explicit Csv2PartitionReader(std::unique_ptr<TextFileReader> in) : in_(std::move(in)) {}
  Result<bool> Next(uint8_t* out) override {
    std::string_view line;
    TOS_ASSIGN_OR_RETURN(bool more, in_->Next(&line));
    if (!more) return false;
    Status s = DecodeMnistCsv2Line(line, out);
    if (!s.ok()) return s.WithContext(in_->Where());
    return true;
  }

 private:
  std::unique_ptr<TextFileReader> in_;
};

class CsvPartitionReader final : public MnistPartitionReader {
 public:
  CsvPartitionReader(std::unique_ptr<TextFileReader> images, std::unique_ptr<TextFileReader> labels)
      : images_(std::move(images)), labels_(std::move(labels)) {}
  Result<bool> Next(uint8_t* out) override {
    std::string_view image, label;
    TOS_ASSIGN_OR_RETURN(bool more_images, images_->Next(&image));
    // The label line is read into the second reader's buffer: both views stay valid.
    TOS_ASSIGN_OR_RETURN(bool more_labels, labels_->Next(&label));
    if (more_images != more_labels) {
      const TextFileReader& shorter = more_images ? *labels_ : *images_;
      const TextFileReader& longer = more_images ? *images_ : *labels_;
      return DataLoss("image/label count mismatch: " + shorter.path() + " ends after line " +
                      std::to_string(shorter.line_number()) + " but " + longer.path() +
                      " has a line " + std::to_string(longer.line_number()));
    }
    if (!more_images) return false;
    Status s = DecodeMnistCsvPair(image, label, out);
    if (!s.ok()) {
      // Name the file the bad value came from.
      bool label_side = s.message().rfind("label", 0) == 0;
      return s.WithContext((label_side ? labels_ : images_)->Where());
    }
    return true;
  }

 private:
  std::unique_ptr<TextFileReader> images_;
  std::unique_ptr<TextFileReader> labels_;
};

class TfrPartitionReader final : public MnistPartitionReader {
 public:
  explicit TfrPartitionReader(std::unique_ptr<TfRecordReader> in) : in_(std::move(in)) {}
  Result<bool> Next(uint8_t* out) override {
    const uint64_t at = in_->offset();
    std::string_view record;
    TOS_ASSIGN_OR_RETURN(bool more, in_->NextView(&record));
    if (!more) return false;
    Status s = DecodeMnistExample(record, out);
    if (!s.ok()) {
      return s.WithContext(in_->path() + ": record " + std::to_string(records_) + " at byte " +
                           std::to_string(at));
    }
    ++records_;
    return true;
  }

 private:
  std::unique_ptr<TfRecordReader> in_;
  uint64_t records_ = 0;
};

}  // namespace

Result<DataFormat> ParseDataFormat(const std::string& name) {
  if (name == "csv") return DataFormat::kCsv;
  if (name == "csv2") return DataFormat::kCsv2;
  if (name == "tfr" || name == "tf") return DataFormat::kTfr;
  if (name == "pickle") return DataFormat::kPickle;
  return InvalidArgument("unknown data format '" + name +
                         "': expected csv, csv2, tf, tfr or pickle");
}

const char* DataFormatName(DataFormat f) {
  switch (f) {
    case DataFormat::kCsv:
      return "csv";
    case DataFormat::kCsv2:
      return "csv2";
    case DataFormat::kTfr:
      return "tfr";
    case DataFormat::kPickle:
      return "pickle";
  }
  return "?";
}

Result<std::unique_ptr<MnistDataset>> MnistDataset::Open(const MnistDatasetSpec& spec) {
  if (spec.images.empty()) return InvalidArgument("MnistDatasetSpec.images is empty");
  if ((spec.format == DataFormat::kCsv || spec.format == DataFormat::kPickle) &&
      spec.labels.empty()) {
    return InvalidArgument(std::string("the ") + DataFormatName(spec.format) +
                           " format needs a labels directory (MnistDatasetSpec.labels)");
  }
  std::unique_ptr<MnistDataset> ds(new MnistDataset);
  ds->spec_ = spec;
  TOS_ASSIGN_OR_RETURN(ds->images_, ListPartFiles(spec.images, spec.allow_incomplete));
  if (spec.format == DataFormat::kCsv || spec.format == DataFormat::kPickle) {
    TOS_ASSIGN_OR_RETURN(ds->labels_, ListPartFiles(spec.labels, spec.allow_incomplete));
    if (ds->labels_.size() != ds->images_.size()) {
      return DataLoss("image/label partition mismatch: " + spec.images + " has " +
                      std::to_string(ds->images_.size()) + " parts but " + spec.labels + " has " +
                      std::to_string(ds->labels_.size()));
    }
    for (size_t i = 0; i < ds->images_.size(); ++i) {
      size_t a = 0, b = 0;
      ParsePartFileName(Basename(ds->images_[i]), &a);
      ParsePartFileName(Basename(ds->labels_[i]), &b);
      if (a != b) {
        return DataLoss("image/label partition mismatch: " + ds->images_[i] + " pairs with " +
                        ds->labels_[i]);
      }
    }
  }
  return ds;
}

Result<std::unique_ptr<MnistPartitionReader>> MnistDataset::OpenPartition(size_t i) const {
  if (i >= images_.size()) {
    return InvalidArgument("partition " + std::to_string(i) + " out of range: " + spec_.images +
                           " has " + std::to_string(images_.size()) + " parts");
  }
  const std::string& part = images_[i];
  switch (spec_.format) {
    case DataFormat::kCsv: {
      TOS_ASSIGN_OR_RETURN(auto images, TextFileReader::Open(part));
      TOS_ASSIGN_OR_RETURN(auto labels, TextFileReader::Open(labels_[i]));
      return std::unique_ptr<MnistPartitionReader>(
          new CsvPartitionReader(std::move(images), std::move(labels)));
    }
    case DataFormat::kCsv2: {
      TOS_ASSIGN_OR_RETURN(auto in, TextFileReader::Open(part));
      return std::unique_ptr<MnistPartitionReader>(new Csv2PartitionReader(std::move(in)));
    }
    case DataFormat::kTfr: {
      TOS_ASSIGN_OR_RETURN(auto in, TfRecordReader::Open(part, CompressionFor(part)));
      return std::unique_ptr<MnistPartitionReader>(new TfrPartitionReader(std::move(in)));
    }
    case DataFormat::kPickle:
      return OpenMnistPicklePartition(part, labels_[i]);
  }
  return Internal("unknown data format");
}

}  // namespace tos
