// Training batches for the MNIST program from either input mode, as tensors:
// images uint8 [B, 784], labels int64 [B].
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <string_view>

#include "tos/columns.h"
#include "tos/data_feed.h"
#include "tos/shard_reader.h"

namespace mnist {

// Decodes one fed record into the canonical 785 bytes (label, pixels) according to the
// batch's encoding: "bytes" (785 canonical bytes or a serialized tf.train.Example), "text"
// (a csv2 line "label|p0,...,p783"), "tuple" (an (image, label) tuple from Spark, e.g. the
// seed's images.zip(labels)). Throws tos::Error naming the record on bad input.
void DecodeRecord(const std::string& encoding, std::string_view record, uint8_t* out);

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Fills images/labels with up to n records; false when the data is exhausted.
  virtual bool Next(size_t n, torch::Tensor* images, torch::Tensor* labels) = 0;
  // Stops the input early (feed mode: terminate() so the driver stops shipping data).
  virtual void Stop() {}
};

std::unique_ptr<BatchSource> FeedBatches(tos::DataFeed& feed);
// A DataFrame feed (--format parquet; docs/spark.md, "DataFrames"): columns image (binary,
// the 784 pixel bytes) and label (int).
std::unique_ptr<BatchSource> ColumnBatches(tos::DataFeed& feed);
std::unique_ptr<BatchSource> ParquetBatches(std::unique_ptr<tos::ParquetShard> shard);
std::unique_ptr<BatchSource> ShardBatches(std::unique_ptr<tos::ShardReader> reader);

// Decodes a batch of records (any encoding) into tensors.
void ToTensors(const tos::Batch& batch, torch::Tensor* images, torch::Tensor* labels);
void ToTensors(const std::vector<std::string_view>& records, const std::string& encoding,
               torch::Tensor* images, torch::Tensor* labels);
// Rows of a DataFrame feed. `images` is a view of the batch's Arrow buffer (no copy): it is
// valid while `batch` lives.
void ToTensors(const tos::ColumnBatch& batch, torch::Tensor* images, torch::Tensor* labels);

}  // namespace mnist
