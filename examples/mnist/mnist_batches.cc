#include "mnist_batches.h"

#include <cstring>

#include "mnist_args.h"
#include "mnist_dataset.h"
#include "tos/tuple_record.h"

namespace mnist {
namespace {

constexpr size_t kPixels = tos::kMnistPixels;
constexpr size_t kRecord = tos::kMnistRecordBytes;

template <typename Records>
void Fill(const Records& records, const std::string& encoding, torch::Tensor* images,
          torch::Tensor* labels) {
  const int64_t n = static_cast<int64_t>(records.size());
  *images = torch::empty({n, static_cast<int64_t>(kPixels)}, torch::kUInt8);
  *labels = torch::empty({n}, torch::kInt64);
  uint8_t* img = images->data_ptr<uint8_t>();
  int64_t* lab = labels->data_ptr<int64_t>();
  uint8_t rec[kRecord];
  const bool raw_bytes = encoding == "bytes";
  for (int64_t i = 0; i < n; ++i) {
    std::string_view r = records[i];
    const uint8_t* canonical;
    if (raw_bytes && r.size() == kRecord) {
      canonical = reinterpret_cast<const uint8_t*>(r.data());
    } else {
      DecodeRecord(encoding, r, rec);
      canonical = rec;
    }
    lab[i] = canonical[0];
    std::memcpy(img + i * kPixels, canonical + 1, kPixels);
  }
}

class FeedSource : public BatchSource {
 public:
  explicit FeedSource(tos::DataFeed& feed) : feed_(feed) {}
  bool Next(size_t n, torch::Tensor* images, torch::Tensor* labels) override {
    auto batch = feed_.next_batch(n);
    if (batch.empty()) return false;
    ToTensors(batch, images, labels);
    return true;
  }
  void Stop() override { feed_.terminate(); }

 private:
  tos::DataFeed& feed_;
};

class ShardSource : public BatchSource {
 public:
  explicit ShardSource(std::unique_ptr<tos::ShardReader> r) : reader_(std::move(r)) {}
  bool Next(size_t n, torch::Tensor* images, torch::Tensor* labels) override {
    if (!tos::ValueOrThrow(reader_->NextBatch(n, &records_))) return false;
    std::vector<std::string_view> views(records_.begin(), records_.end());
    Fill(views, "bytes", images, labels);
    return true;
  }

 private:
  std::unique_ptr<tos::ShardReader> reader_;
  std::vector<std::string> records_;
};

// An (image, label) tuple from Spark (docs/spark.md, "Tuple records"): the seed's
// images.zip(labels), i.e. 784 pixels (numbers 0..255 of any type) and 10 one-hot numbers
// or one class number; or the two csv lines as Spark read them (strings), parsed here.
tos::Status DecodeTuple(std::string_view record, uint8_t* out) {
  TOS_ASSIGN_OR_RETURN(auto fields, tos::DecodeTupleRecord(record));
  if (fields.size() == 2 && fields[0].type == tos::TupleType::kString &&
      fields[1].type == tos::TupleType::kString)
    return tos::DecodeMnistCsvPair(fields[0].raw, fields[1].raw, out);
  if (fields.size() != 2 || !fields[0].numeric() || !fields[1].numeric()) {
    return tos::InvalidArgument("expected an (image, label) tuple of numbers, got " +
                                std::to_string(fields.size()) + " fields");
  }
  const tos::TupleField& image = fields[0];
  const tos::TupleField& label = fields[1];
  if (image.count != tos::kMnistPixels) {
    return tos::InvalidArgument("image has " + std::to_string(image.count) +
                                " values, expected 784");
  }
  if (image.type == tos::TupleType::kUint8) {
    std::memcpy(out + 1, image.raw.data(), tos::kMnistPixels);
  } else {
    for (size_t i = 0; i < tos::kMnistPixels; ++i) {
      double v = image.at(i);
      if (!(v >= 0 && v <= 255))
        return tos::InvalidArgument("pixel " + std::to_string(i) + " is " + std::to_string(v) +
                                    ", expected 0..255");
      out[1 + i] = static_cast<uint8_t>(v);
    }
  }
  if (label.count == 1) {
    double c = label.at(0);
    if (!(c >= 0 && c <= 9))
      return tos::InvalidArgument("label " + std::to_string(c) + " is not a class 0..9");
    out[0] = static_cast<uint8_t>(c);
    return tos::Status::OK();
  }
  if (label.count != tos::kMnistClasses) {
    return tos::InvalidArgument("label has " + std::to_string(label.count) +
                                " values, expected 10 one-hot or 1 class");
  }
  int hot = -1;
  for (size_t k = 0; k < tos::kMnistClasses; ++k) {
    double v = label.at(k);
    if (v == 1 && hot < 0) {
      hot = static_cast<int>(k);
    } else if (v != 0) {
      return tos::InvalidArgument("label is not one-hot (value " + std::to_string(v) +
                                  " at index " + std::to_string(k) + ")");
    }
  }
  if (hot < 0) return tos::InvalidArgument("label is not one-hot (all zero)");
  out[0] = static_cast<uint8_t>(hot);
  return tos::Status::OK();
}

}  // namespace

void DecodeRecord(const std::string& encoding, std::string_view record, uint8_t* out) {
  tos::Status st;
  if (encoding == "bytes") {
    st = record.size() == kRecord ? (std::memcpy(out, record.data(), kRecord), tos::Status::OK())
                                  : tos::DecodeMnistExample(record, out);
  } else if (encoding == "text") {
    if (record.find('|') == std::string_view::npos) {
      st = tos::InvalidArgument(
          "a text record without '|': csv image lines need their labels; feed csv2 lines "
          "(label|pixels) or (image, label) tuples");
    } else {
      st = tos::DecodeMnistCsv2Line(record, out);
    }
  } else if (encoding == "tuple") {
    st = DecodeTuple(record, out);
  } else {
    st = tos::Unimplemented("records with encoding '" + encoding +
                            "' are not understood by mnist_spark");
  }
  if (!st.ok())
    throw tos::Error(st.WithContext("decoding a fed MNIST record of " +
                                    std::to_string(record.size()) + " bytes"));
}

void ToTensors(const std::vector<std::string_view>& records, const std::string& encoding,
               torch::Tensor* images, torch::Tensor* labels) {
  Fill(records, encoding, images, labels);
}

void ToTensors(const tos::Batch& batch, torch::Tensor* images, torch::Tensor* labels) {
  Fill(batch.records(), batch.encoding(), images, labels);
}

std::unique_ptr<BatchSource> FeedBatches(tos::DataFeed& feed) {
  return std::make_unique<FeedSource>(feed);
}

void ToTensors(const tos::ColumnBatch& batch, torch::Tensor* images, torch::Tensor* labels) {
  const tos::Column& image = batch.column("image");
  if (image.width != static_cast<int64_t>(kPixels)) {
    throw tos::Error(tos::InvalidArgument(
        "column 'image' must hold the " + std::to_string(kPixels) +
        " pixels of one image per row; these rows hold " +
        (image.width < 0 ? std::string("different numbers") : std::to_string(image.width))));
  }
  const int64_t n = batch.num_rows();
  const std::vector<int64_t> shape{n, static_cast<int64_t>(kPixels)};
  void* pixels = const_cast<void*>(image.data);
  if (image.element == tos::ElementType::kUint8) {  // binary: the 784 bytes, viewed
    *images = torch::from_blob(pixels, shape, torch::kUInt8);
  } else if (image.element == tos::ElementType::kInt32) {  // array<int>
    *images = torch::from_blob(pixels, shape, torch::kInt32).to(torch::kUInt8);
  } else {
    throw tos::Error(tos::InvalidArgument("column 'image' is " + image.type +
                                          ": give the pixels as binary (784 bytes) or array<int>"));
  }
  *labels = torch::from_blob(const_cast<int32_t*>(batch.column("label").values<int32_t>()), {n},
                             torch::kInt32)
                .to(torch::kInt64);
}

namespace {

class ColumnSource : public BatchSource {
 public:
  explicit ColumnSource(tos::DataFeed& feed) : feed_(feed), columns_(feed, MnistColumns()) {}
  bool Next(size_t n, torch::Tensor* images, torch::Tensor* labels) override {
    batch_ = columns_.next_batch(n);  // keeps the previous batch's buffers until now
    if (batch_.empty()) return false;
    ToTensors(batch_, images, labels);
    return true;
  }
  void Stop() override { feed_.terminate(); }

 private:
  tos::DataFeed& feed_;
  tos::ColumnFeed columns_;
  tos::ColumnBatch batch_;
};

class ParquetSource : public BatchSource {
 public:
  explicit ParquetSource(std::unique_ptr<tos::ParquetShard> shard) : shard_(std::move(shard)) {}
  bool Next(size_t n, torch::Tensor* images, torch::Tensor* labels) override {
    batch_ = shard_->next_batch(n);
    if (batch_.empty()) return false;
    ToTensors(batch_, images, labels);
    return true;
  }

 private:
  std::unique_ptr<tos::ParquetShard> shard_;
  tos::ColumnBatch batch_;
};

}  // namespace

std::unique_ptr<BatchSource> ColumnBatches(tos::DataFeed& feed) {
  return std::make_unique<ColumnSource>(feed);
}

std::unique_ptr<BatchSource> ParquetBatches(std::unique_ptr<tos::ParquetShard> shard) {
  return std::make_unique<ParquetSource>(std::move(shard));
}

std::unique_ptr<BatchSource> ShardBatches(std::unique_ptr<tos::ShardReader> reader) {
  return std::make_unique<ShardSource>(std::move(reader));
}

}  // namespace mnist
