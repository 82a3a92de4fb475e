#include "mnist_batches.h"

#include <cstring>

#include "tos/mnist_dataset.h"

namespace mnist {
namespace {

constexpr size_t kPixels = tos::kMnistPixels;
constexpr size_t kRecord = tos::kMnistRecordBytes;

template <typename Records>
void Fill(const Records& records, const std::string& encoding, torch::Tensor* images, torch::Tensor* labels) {
  const int64_t n = static_cast<int64_t>(records.size());
  *images = torch::empty({n, static_cast<int64_t>(kPixels)}, torch::kUInt8);
  *labels = torch::empty({n}, torch::kInt64);
  uint8_t* img = images->data_ptr<uint8_t>();
  int64_t* lab = labels->data_ptr<int64_t>();
  uint8_t rec[kRecord];
  for (int64_t i = 0; i < n; ++i) {
    std::string_view r = records[i];
    const uint8_t* canonical;
    if (encoding == "bytes" && r.size() == kRecord) {
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

}  // namespace

void DecodeRecord(const std::string& encoding, std::string_view record, uint8_t* out) {
  tos::Status st;
  if (encoding == "bytes") {
    st = record.size() == kRecord ? (std::memcpy(out, record.data(), kRecord), tos::Status::OK())
                                  : tos::DecodeMnistExample(record, out);
  } else if (encoding == "text") {
    if (record.find('|') == std::string_view::npos) {
      st = tos::InvalidArgument("a text record without '|': csv image lines need their labels; feed csv2 lines "
                                "(label|pixels) or (image, label) tuples");
    } else {
      st = tos::DecodeMnistCsv2Line(record, out);
    }
  } else {
    st = tos::Unimplemented("records with encoding '" + encoding + "' are not understood by mnist_spark");
  }
  if (!st.ok()) throw tos::Error(st.WithContext("decoding a fed MNIST record of " + std::to_string(record.size()) + " bytes"));
}

void ToTensors(const tos::Batch& batch, torch::Tensor* images, torch::Tensor* labels) {
  Fill(batch.records(), batch.encoding(), images, labels);
}

std::unique_ptr<BatchSource> FeedBatches(tos::DataFeed& feed) { return std::make_unique<FeedSource>(feed); }

std::unique_ptr<BatchSource> ShardBatches(std::unique_ptr<tos::ShardReader> reader) {
  return std::make_unique<ShardSource>(std::move(reader));
}

}  // namespace mnist
