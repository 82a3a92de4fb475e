#include "mnist_pickle.h"

#include <cmath>
#include <cstring>

#include "tos/pyspark_pickle_file.h"

namespace tos {
namespace {

class PicklePartitionReader : public MnistPartitionReader {
 public:
  PicklePartitionReader(std::string images_path, std::unique_ptr<PySparkPickleReader> images,
                        std::string labels_path, std::unique_ptr<PySparkPickleReader> labels)
      : images_path_(std::move(images_path)),
        labels_path_(std::move(labels_path)),
        images_(std::move(images)),
        labels_(std::move(labels)) {}

  Result<bool> Next(uint8_t* out) override {
    PickleRef image, label;
    TOS_ASSIGN_OR_RETURN(bool more_images, images_->Next(&image));
    TOS_ASSIGN_OR_RETURN(bool more_labels, labels_->Next(&label));
    if (more_images != more_labels) {
      return DataLoss((more_images ? labels_path_ : images_path_) + ": ends after " +
                      std::to_string(n_) + " elements, but " +
                      (more_images ? images_path_ : labels_path_) + " has more");
    }
    if (!more_images) return false;
    TOS_RETURN_IF_ERROR(
        Pixels(*image, out + 1).WithContext(images_path_ + ": element " + std::to_string(n_)));
    TOS_RETURN_IF_ERROR(
        Label(*label, out).WithContext(labels_path_ + ": element " + std::to_string(n_)));
    ++n_;
    return true;
  }

 private:
  static Status Pixels(const PickleValue& v, uint8_t* out) {
    if (!v.IsNumeric() || v.NumericSize() != kMnistPixels) {
      return DataLoss("image is a " + v.Describe() + ", expected 784 numbers (a uint8 array)");
    }
    if (v.kind == PickleValue::kArray && v.dtype == "|u1") {
      std::memcpy(out, v.data.data(), kMnistPixels);
      return Status::OK();
    }
    for (size_t k = 0; k < kMnistPixels; ++k) {
      double p = v.NumericAt(k);
      if (!(p >= 0 && p <= 255) || p != std::floor(p)) {
        return DataLoss("pixel " + std::to_string(k) + " is " + std::to_string(p) +
                        ", expected an integer 0..255");
      }
      out[k] = static_cast<uint8_t>(p);
    }
    return Status::OK();
  }

  static Status Label(const PickleValue& v, uint8_t* out) {
    if (!v.IsNumeric() || (v.NumericSize() != kMnistClasses && v.NumericSize() != 1)) {
      return DataLoss("label is a " + v.Describe() +
                      ", expected 10 one-hot numbers or one class 0..9");
    }
    if (v.NumericSize() == 1) {
      double c = v.NumericAt(0);
      if (!(c >= 0 && c <= 9) || c != std::floor(c))
        return DataLoss("label " + std::to_string(c) + " is not a class 0..9");
      *out = static_cast<uint8_t>(c);
      return Status::OK();
    }
    int hot = -1;
    for (size_t k = 0; k < kMnistClasses; ++k) {
      double x = v.NumericAt(k);
      if (x == 1 && hot < 0) {
        hot = static_cast<int>(k);
      } else if (x != 0) {
        return DataLoss("label is not one-hot (value " + std::to_string(x) + " at index " +
                        std::to_string(k) + ")");
      }
    }
    if (hot < 0) return DataLoss("label is not one-hot (all zero)");
    *out = static_cast<uint8_t>(hot);
    return Status::OK();
  }

  std::string images_path_, labels_path_;
  std::unique_ptr<PySparkPickleReader> images_, labels_;
  uint64_t n_ = 0;
};

}  // namespace

Result<std::unique_ptr<MnistPartitionReader>> OpenMnistPicklePartition(
    const std::string& images_part, const std::string& labels_part) {
  TOS_ASSIGN_OR_RETURN(auto images, PySparkPickleReader::Open(images_part));
  TOS_ASSIGN_OR_RETURN(auto labels, PySparkPickleReader::Open(labels_part));
  return std::unique_ptr<MnistPartitionReader>(
      new PicklePartitionReader(images_part, std::move(images), labels_part, std::move(labels)));
}

Status WriteMnistPicklePartition(std::unique_ptr<WritableFile> image_file,
                                 std::unique_ptr<WritableFile> label_file, size_t begin, size_t end,
                                 const std::function<const uint8_t*(size_t, uint8_t*)>& get) {
  TOS_ASSIGN_OR_RETURN(auto images, PySparkPickleWriter::Create(std::move(image_file)));
  TOS_ASSIGN_OR_RETURN(auto labels, PySparkPickleWriter::Create(std::move(label_file)));
  uint8_t buf[kMnistRecordBytes];
  for (size_t r = begin; r < end; ++r) {
    const uint8_t* rec = get(r, buf);
    std::string image, label;
    AppendPickledArray(&image, PickleDtype::kUint8, rec + 1, kMnistPixels);
    double one_hot[kMnistClasses] = {0};
    one_hot[rec[0]] = 1.0;
    AppendPickledArray(&label, PickleDtype::kFloat64, one_hot, kMnistClasses);
    TOS_RETURN_IF_ERROR(images->Add(std::move(image)));
    TOS_RETURN_IF_ERROR(labels->Add(std::move(label)));
  }
  TOS_RETURN_IF_ERROR(images->Close());
  return labels->Close();
}

}  // namespace tos
