// Columns: a feed of Spark DataFrame rows as Arrow record batches (Batch::encoding() "arrow";
// docs/spark.md, "DataFrames"). Each feed record is one Arrow IPC stream holding one record
// batch, as Spark's Arrow path (DataFrame.mapInArrow) hands them to its Python workers; the
// bytes reach the node unchanged and are read here with Apache Arrow C++.
//
// Library TorchOnSpark::columns (links Arrow C++); this header does not include Arrow's.
//
// Threading: a ColumnFeed belongs to the thread that calls its DataFeed. ColumnBatch and its
// Columns are immutable and may be read from any thread while the ColumnBatch lives.
// Failures throw tos::Error, like DataFeed: a record that is not an Arrow stream (named with
// its Spark partition and first row), a null, a column the program does not expect.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tos/data_feed.h"
#include "tos/status.h"

namespace tos {

// The element type of a column's values buffer: the column's own type for numbers; the
// item type for lists and fixed-size lists; kUint8 for binary and string columns.
enum class ElementType : uint8_t {
  kInt8,
  kUint8,
  kInt16,
  kUint16,
  kInt32,
  kUint32,
  kInt64,
  kUint64,
  kFloat32,
  kFloat64
};
const char* ElementTypeName(ElementType t);
size_t ElementSize(ElementType t);

template <typename T>
constexpr ElementType ElementTypeOf();

// One column of a ColumnBatch: a view into Arrow buffers the batch keeps alive.
struct Column {
  std::string name;
  std::string type;  // Arrow's name: "int32", "binary", "list<item: int32>", ...
  ElementType element = ElementType::kUint8;
  int64_t rows = 0;
  // Elements per row: 1 for numbers, the size of fixed-size lists and fixed-size binary, and
  // for lists, binary and strings the common length when every row has it, else -1.
  int64_t width = 1;
  // Row 0's first element. With width >= 0 the rows are back to back: rows * width elements,
  // ready for torch::from_blob({rows, width}) without a copy.
  const void* data = nullptr;
  // Lists, binary and strings: rows + 1 element offsets (row i is elements offsets[i] ..
  // offsets[i+1] from `base`); null for the fixed-size types.
  const int32_t* offsets = nullptr;
  const void* base = nullptr;

  // The values as T; throws tos::Error if the element type is not T (the message names both).
  template <typename T>
  const T* values() const {
    CheckElement(ElementTypeOf<T>());
    return static_cast<const T*>(data);
  }
  // Row i of a binary or string column (or any row's elements, as bytes).
  std::string_view bytes(int64_t row) const;
  // Number of elements in row i.
  int64_t row_size(int64_t row) const;

 private:
  void CheckElement(ElementType want) const;
};

// A slice of rows with named columns. Cheap to copy (shares the buffers).
class ColumnBatch {
 public:
  ColumnBatch() = default;
  int64_t num_rows() const { return rows_; }
  bool empty() const { return rows_ == 0; }
  const std::vector<Column>& columns() const { return columns_; }
  // Throws tos::Error naming the batch's columns if there is none called `name`.
  const Column& column(std::string_view name) const;
  // "image: binary, label: int32"
  std::string schema() const;

 private:
  friend struct ColumnBatchBuilder;
  int64_t rows_ = 0;
  std::vector<Column> columns_;
  std::shared_ptr<const void> keep_;  // the Arrow record batch the columns point into
};

// Decodes one feed record (an Arrow IPC stream of one record batch). Nulls are allowed here;
// ColumnFeed refuses them. DataLoss if the record is not such a stream.
Result<ColumnBatch> DecodeArrowRecord(std::string_view record);

// The columns a program expects: name and Arrow type name, e.g. {{"image", "binary"},
// {"label", "int32"}}. An empty list accepts any schema.
using ColumnSchema = std::vector<std::pair<std::string, std::string>>;

struct ColumnFeedOptions {
  ColumnSchema expect;  // checked on every record: both schemas are named on a mismatch
  // Inference: the name of the result column, and the input columns the results carry back
  // with them (all of them when empty; none if it holds only ""). A Spark DataFrame feed
  // says both itself (cluster.inference(df, result=..., columns=...)), overriding these.
  std::string result_column = "prediction";
  std::vector<std::string> keep_columns;
};

// Rows from a DataFeed of Arrow records, in batches of the size the program asks for.
class ColumnFeed {
 public:
  explicit ColumnFeed(DataFeed& feed, ColumnFeedOptions options = {});
  ~ColumnFeed();
  ColumnFeed(const ColumnFeed&) = delete;
  ColumnFeed& operator=(const ColumnFeed&) = delete;

  // Up to n rows. Blocks like DataFeed::next_batch. Training: batches span records (rows are
  // copied only for a batch that does). Inference: a batch never spans records. Empty when
  // the feed is over. Throws tos::Error on a null, an unexpected schema or a bad record.
  ColumnBatch next_batch(size_t n);
  bool should_stop() const;

  // Inference: one result per row of the last batch, in order. The results of a record go
  // back to Spark as one Arrow batch: the kept input columns plus the result column.
  void batch_results(const std::vector<int64_t>& results);
  void batch_results(const std::vector<double>& results);
  void batch_results(const std::vector<std::string>& results);

  uint64_t rows_consumed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Direct mode (InputMode.TENSORFLOW) over a Parquet dataset as Spark SQL writes one
// (part-NNNNN-*.parquet and _SUCCESS) on any file system the runtime serves (local, HDFS):
// this trainer's share of the row groups, in dataset order. Row group g (counted over the
// parts in name order) belongs to shard g % num_shards.
struct ParquetShardOptions {
  std::string path;
  size_t shard_index = 0;
  size_t num_shards = 1;
  std::vector<std::string> columns;  // the columns to read (all when empty)
  ColumnSchema expect;               // as ColumnFeedOptions::expect
  int epochs = 1;
  bool allow_incomplete = false;
};

class ParquetShard {
 public:
  // Lists the dataset and reads every part's footer: NotFound, DataLoss (not Parquet, no
  // _SUCCESS) and InvalidArgument (a missing column) name the file.
  static Result<std::unique_ptr<ParquetShard>> Open(ParquetShardOptions options);
  ~ParquetShard();
  // Up to n rows (batches span row groups and epochs); empty at the end. Throws tos::Error
  // naming the file and row group on a read error or a null.
  ColumnBatch next_batch(size_t n);
  size_t row_groups() const;  // this shard's, per epoch
  int64_t rows() const;       // this shard's, per epoch

 private:
  ParquetShard();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

template <>
constexpr ElementType ElementTypeOf<int8_t>() {
  return ElementType::kInt8;
}
template <>
constexpr ElementType ElementTypeOf<uint8_t>() {
  return ElementType::kUint8;
}
template <>
constexpr ElementType ElementTypeOf<int16_t>() {
  return ElementType::kInt16;
}
template <>
constexpr ElementType ElementTypeOf<uint16_t>() {
  return ElementType::kUint16;
}
template <>
constexpr ElementType ElementTypeOf<int32_t>() {
  return ElementType::kInt32;
}
template <>
constexpr ElementType ElementTypeOf<uint32_t>() {
  return ElementType::kUint32;
}
template <>
constexpr ElementType ElementTypeOf<int64_t>() {
  return ElementType::kInt64;
}
template <>
constexpr ElementType ElementTypeOf<uint64_t>() {
  return ElementType::kUint64;
}
template <>
constexpr ElementType ElementTypeOf<float>() {
  return ElementType::kFloat32;
}
template <>
constexpr ElementType ElementTypeOf<double>() {
  return ElementType::kFloat64;
}

}  // namespace tos
