// ParquetShard: direct mode over a Parquet dataset, read with Arrow C++'s Parquet reader
// (libparquet of the pyarrow wheel). Files come through the runtime's file systems (local,
// HDFS), which read front to back: each part is read whole, one at a time, and this shard
// decodes only its own row groups (docs/spark.md, "Parquet direct mode").
#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>

#include <deque>

#include "columns/arrow_internal.h"
#include "tos/fs.h"
#include "tos/partitioned_dir.h"

namespace tos {

using columns_internal::SchemaOf;
using columns_internal::SchemaString;

struct ParquetShard::Impl {
  ParquetShardOptions options;
  std::vector<std::string> parts;
  std::vector<int> column_indices;  // of the first part's schema; empty = all
  std::shared_ptr<arrow::Schema> schema;
  // Where reading stands: epoch, part, the global index of the part's first row group.
  int epoch = 0;
  size_t part = 0;
  size_t first_group = 0;
  std::deque<std::shared_ptr<arrow::RecordBatch>> ready;
  int64_t ready_pos = 0;
  // Row groups and rows of this shard per epoch, known once the first epoch was read.
  size_t groups = 0;
  int64_t rows = 0;

  static Status ArrowError(const arrow::Status& st, const std::string& what) {
    return DataLoss(what + ": " + st.ToString());
  }

  Result<std::unique_ptr<parquet::arrow::FileReader>> OpenPart(const std::string& uri) {
    TOS_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(uri));
    auto buffer =
        std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(std::move(bytes)));
    try {
      auto reader = parquet::arrow::OpenFile(buffer, arrow::default_memory_pool());
      if (!reader.ok()) return ArrowError(reader.status(), uri + ": not a Parquet file");
      return std::move(reader).ValueUnsafe();
    } catch (const parquet::ParquetException& e) {
      return DataLoss(uri + ": not a Parquet file: " + e.what());
    }
  }

  Status CheckSchema(const std::string& uri, const arrow::Schema& s) {
    ColumnSchema got = SchemaOf(s);
    if (!options.expect.empty() && !columns_internal::Matches(got, options.expect))
      return InvalidArgument(uri + " has the columns (" + SchemaString(got) +
                             "); this program expects (" + SchemaString(options.expect) + ")");
    std::vector<int> indices;
    for (auto& name : options.columns) {
      int i = s.GetFieldIndex(name);
      if (i < 0)
        return InvalidArgument(uri + " has no column '" + name + "' (it has " + SchemaString(got) +
                               ")");
      indices.push_back(i);
    }
    if (part == 0 && epoch == 0) column_indices = indices;
    if (indices != column_indices)
      return InvalidArgument(uri + ": its columns are not in the order of " + parts[0] + "'s");
    return Status::OK();
  }

  // Reads this shard's row groups of the next part; false at the end of the last epoch.
  Result<bool> ReadNextPart() {
    if (part == parts.size()) {
      if (++epoch >= options.epochs) return false;
      part = 0;
      first_group = 0;
    }
    const std::string& uri = parts[part];
    TOS_ASSIGN_OR_RETURN(auto reader, OpenPart(uri));
    std::shared_ptr<arrow::Schema> s;
    auto st = reader->GetSchema(&s);
    if (!st.ok()) return ArrowError(st, uri);
    TOS_RETURN_IF_ERROR(CheckSchema(uri, *s));
    const int n = reader->num_row_groups();
    for (int g = 0; g < n; ++g) {
      if ((first_group + static_cast<size_t>(g)) % options.num_shards != options.shard_index)
        continue;
      auto read = column_indices.empty() ? reader->ReadRowGroup(g)
                                         : reader->ReadRowGroup(g, column_indices);
      if (!read.ok()) return ArrowError(read.status(), uri + ": row group " + std::to_string(g));
      std::shared_ptr<arrow::Table> table = *read;
      auto combined = table->CombineChunksToBatch();
      if (!combined.ok()) return ArrowError(combined.status(), uri);
      std::string column;
      int64_t row = 0;
      if (columns_internal::FirstNull(**combined, &column, &row)) {
        return InvalidArgument(uri + ": column '" + column + "' is null in row " +
                               std::to_string(row) + " of row group " + std::to_string(g) +
                               ": fill or drop nulls before training");
      }
      if (epoch == 0) {
        ++groups;
        rows += (*combined)->num_rows();
      }
      if ((*combined)->num_rows() > 0) ready.push_back(*combined);
    }
    first_group += static_cast<size_t>(n);
    ++part;
    return true;
  }

  ColumnBatch Next(size_t n) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> pieces;
    int64_t want = static_cast<int64_t>(n), got = 0;
    while (got < want) {
      if (ready.empty()) {
        auto more = ReadNextPart();
        if (!more.ok()) throw Error(more.status().WithContext("Parquet dataset " + options.path));
        if (!*more) break;
        continue;
      }
      auto& front = ready.front();
      int64_t take = std::min(want - got, front->num_rows() - ready_pos);
      pieces.push_back(front->Slice(ready_pos, take));
      ready_pos += take;
      got += take;
      if (ready_pos == front->num_rows()) {
        ready.pop_front();
        ready_pos = 0;
      }
    }
    if (pieces.empty()) return ColumnBatch();
    std::shared_ptr<arrow::RecordBatch> rb = pieces[0];
    if (pieces.size() > 1) {
      auto joined = arrow::ConcatenateRecordBatches(pieces);
      if (!joined.ok()) throw Error(ArrowError(joined.status(), "joining row groups"));
      rb = *joined;
    }
    return ValueOrThrow(ColumnBatchBuilder::Make(std::move(rb)));
  }
};

ParquetShard::ParquetShard() : impl_(std::make_unique<Impl>()) {}
ParquetShard::~ParquetShard() = default;

Result<std::unique_ptr<ParquetShard>> ParquetShard::Open(ParquetShardOptions options) {
  if (options.num_shards == 0 || options.shard_index >= options.num_shards)
    return InvalidArgument("ParquetShard: shard_index must be below num_shards");
  std::unique_ptr<ParquetShard> s(new ParquetShard());
  Impl& m = *s->impl_;
  TOS_ASSIGN_OR_RETURN(m.parts, ListPartFiles(options.path, options.allow_incomplete));
  if (m.parts.empty()) return NotFound(options.path + ": no part files");
  m.options = std::move(options);
  // The first part's footer: a bad file or a missing column is reported before training.
  TOS_ASSIGN_OR_RETURN(auto reader, m.OpenPart(m.parts[0]));
  std::shared_ptr<arrow::Schema> schema;
  auto st = reader->GetSchema(&schema);
  if (!st.ok()) return Impl::ArrowError(st, m.parts[0]);
  TOS_RETURN_IF_ERROR(m.CheckSchema(m.parts[0], *schema));
  return s;
}

ColumnBatch ParquetShard::next_batch(size_t n) { return impl_->Next(n); }
size_t ParquetShard::row_groups() const { return impl_->groups; }
int64_t ParquetShard::rows() const { return impl_->rows; }

}  // namespace tos
