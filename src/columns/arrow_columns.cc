// ColumnBatch and ColumnFeed over Apache Arrow C++ (the libraries of the pyarrow wheel that
// Spark's Python workers use; scripts/venv_setup.sh). The only translation unit that includes
// Arrow's headers.
#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>

#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "columns/arrow_internal.h"
#include "tos/columns.h"

namespace tos {
namespace columns_internal {

std::string SchemaString(const ColumnSchema& s) {
  std::string out;
  for (auto& [name, type] : s) out += (out.empty() ? "" : ", ") + name + ": " + type;
  return out;
}

ColumnSchema SchemaOf(const arrow::Schema& s) {
  ColumnSchema out;
  for (auto& f : s.fields()) out.emplace_back(f->name(), f->type()->ToString());
  return out;
}

bool Matches(const ColumnSchema& got, const ColumnSchema& expect) {
  for (auto& want : expect) {
    bool found = false;
    for (auto& g : got) found = found || g == want;
    if (!found) return false;
  }
  return true;
}

bool FirstNull(const arrow::RecordBatch& rb, std::string* column, int64_t* row) {
  for (int i = 0; i < rb.num_columns(); ++i) {
    const auto& col = *rb.column(i);
    if (col.null_count() == 0) continue;
    int64_t r = 0;
    while (r < col.length() && col.IsValid(r)) ++r;
    *column = rb.column_name(i);
    *row = r;
    return true;
  }
  return false;
}

}  // namespace columns_internal

using columns_internal::SchemaOf;
using columns_internal::SchemaString;

namespace {

// Spark partition and first row of a record, written by the Spark task into the schema's
// metadata (docs/spark.md): named in errors.
struct Origin {
  std::string partition = "?";
  int64_t first_row = 0;
  std::string Where(int64_t row) const {
    return "row " + std::to_string(first_row + row) + " of Spark partition " + partition;
  }
};

Origin OriginOf(const arrow::Schema& schema) {
  Origin o;
  const auto& md = schema.metadata();
  if (!md) return o;
  auto p = md->Get("tos.partition");
  if (p.ok()) o.partition = *p;
  auto r = md->Get("tos.row");
  if (r.ok()) o.first_row = std::atoll(r->c_str());
  return o;
}

Status FromArrow(const arrow::Status& st, const std::string& what) {
  if (st.ok()) return Status::OK();
  return DataLoss(what + ": " + st.ToString());
}

Result<ElementType> ElementOf(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::INT8:
      return ElementType::kInt8;
    case arrow::Type::UINT8:
      return ElementType::kUint8;
    case arrow::Type::INT16:
      return ElementType::kInt16;
    case arrow::Type::UINT16:
      return ElementType::kUint16;
    case arrow::Type::INT32:
      return ElementType::kInt32;
    case arrow::Type::UINT32:
      return ElementType::kUint32;
    case arrow::Type::INT64:
      return ElementType::kInt64;
    case arrow::Type::UINT64:
      return ElementType::kUint64;
    case arrow::Type::FLOAT:
      return ElementType::kFloat32;
    case arrow::Type::DOUBLE:
      return ElementType::kFloat64;
    default:
      return InvalidArgument("type " + t.ToString() +
                             " is not supported; cast it to a number, a list or array of "
                             "numbers, binary or string");
  }
}

const uint8_t* PrimitiveValues(const arrow::Array& a) {
  // Buffer 1 of a primitive array, at the array's offset.
  const auto& d = *a.data();
  size_t size = ElementSize(*ElementOf(*a.type()));
  return d.buffers[1]->data() + d.offset * static_cast<int64_t>(size);
}

// Elements per row of a variable-size column when all rows have the same size, else -1.
int64_t UniformWidth(const int32_t* offsets, int64_t rows) {
  if (rows == 0) return 0;
  int64_t w = offsets[1] - offsets[0];
  for (int64_t i = 1; i < rows; ++i)
    if (offsets[i + 1] - offsets[i] != w) return -1;
  return w;
}

Result<Column> MakeColumn(const std::string& name, const arrow::Array& a) {
  Column c;
  c.name = name;
  c.type = a.type()->ToString();
  c.rows = a.length();
  switch (a.type_id()) {
    case arrow::Type::BINARY:
    case arrow::Type::STRING: {
      const auto& b = static_cast<const arrow::BinaryArray&>(a);
      c.element = ElementType::kUint8;
      c.offsets = b.raw_value_offsets();
      c.base = b.value_data() ? b.value_data()->data() : nullptr;
      c.width = UniformWidth(c.offsets, c.rows);
      c.data = static_cast<const uint8_t*>(c.base) + (c.rows ? c.offsets[0] : 0);
      return c;
    }
    case arrow::Type::FIXED_SIZE_BINARY: {
      const auto& b = static_cast<const arrow::FixedSizeBinaryArray&>(a);
      c.element = ElementType::kUint8;
      c.width = b.byte_width();
      c.data = b.raw_values();
      return c;
    }
    case arrow::Type::LIST: {
      const auto& l = static_cast<const arrow::ListArray&>(a);
      auto e = ElementOf(*l.value_type());
      if (!e.ok()) return e.status().WithContext("items of column '" + name + "'");
      if (l.values()->null_count() > 0)
        return InvalidArgument("column '" + name + "' has null items inside its lists");
      c.element = *e;
      c.offsets = l.raw_value_offsets();
      c.base = PrimitiveValues(*l.values());
      c.width = UniformWidth(c.offsets, c.rows);
      c.data = static_cast<const uint8_t*>(c.base) +
               (c.rows ? c.offsets[0] * static_cast<int64_t>(ElementSize(c.element)) : 0);
      return c;
    }
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& l = static_cast<const arrow::FixedSizeListArray&>(a);
      auto e = ElementOf(*l.value_type());
      if (!e.ok()) return e.status().WithContext("items of column '" + name + "'");
      if (l.values()->null_count() > 0)
        return InvalidArgument("column '" + name + "' has null items inside its arrays");
      c.element = *e;
      c.width = l.list_type()->list_size();
      c.data = PrimitiveValues(*l.values()) +
               l.value_offset(0) * static_cast<int64_t>(ElementSize(c.element));
      return c;
    }
    default: {
      auto e = ElementOf(*a.type());
      if (!e.ok()) return e.status().WithContext("column '" + name + "'");
      c.element = *e;
      c.data = PrimitiveValues(a);
      return c;
    }
  }
}

Result<std::shared_ptr<arrow::RecordBatch>> ReadRecord(std::string_view record) {
  // Copied into an aligned buffer: feed records sit at any byte offset of their frame, and
  // Arrow's buffers are read as arrays of their element type.
  auto buf = arrow::AllocateBuffer(static_cast<int64_t>(record.size()));
  if (!buf.ok()) return Internal("allocating " + std::to_string(record.size()) + " bytes");
  std::shared_ptr<arrow::Buffer> owned = std::move(*buf);
  if (!record.empty()) std::memcpy(owned->mutable_data(), record.data(), record.size());
  auto input = std::make_shared<arrow::io::BufferReader>(owned);
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(input);
  if (!reader.ok())
    return DataLoss("feed record of " + std::to_string(record.size()) +
                    " bytes is not an Arrow IPC stream: " + reader.status().ToString());
  std::shared_ptr<arrow::RecordBatch> rb;
  TOS_RETURN_IF_ERROR(FromArrow((*reader)->ReadNext(&rb), "reading an Arrow record batch"));
  if (!rb) return DataLoss("Arrow IPC stream in a feed record holds no record batch");
  std::shared_ptr<arrow::RecordBatch> extra;
  TOS_RETURN_IF_ERROR(FromArrow((*reader)->ReadNext(&extra), "reading an Arrow record batch"));
  if (extra) return DataLoss("Arrow IPC stream in a feed record holds more than one batch");
  auto valid = rb->Validate();
  if (!valid.ok())
    return DataLoss("invalid Arrow record batch (" + OriginOf(*rb->schema()).Where(0) +
                    "): " + valid.ToString());
  return rb;
}

}  // namespace

const char* ElementTypeName(ElementType t) {
  switch (t) {
    case ElementType::kInt8:
      return "int8";
    case ElementType::kUint8:
      return "uint8";
    case ElementType::kInt16:
      return "int16";
    case ElementType::kUint16:
      return "uint16";
    case ElementType::kInt32:
      return "int32";
    case ElementType::kUint32:
      return "uint32";
    case ElementType::kInt64:
      return "int64";
    case ElementType::kUint64:
      return "uint64";
    case ElementType::kFloat32:
      return "float32";
    case ElementType::kFloat64:
      return "float64";
  }
  return "?";
}

size_t ElementSize(ElementType t) {
  switch (t) {
    case ElementType::kInt8:
    case ElementType::kUint8:
      return 1;
    case ElementType::kInt16:
    case ElementType::kUint16:
      return 2;
    case ElementType::kInt32:
    case ElementType::kUint32:
    case ElementType::kFloat32:
      return 4;
    default:
      return 8;
  }
}

void Column::CheckElement(ElementType want) const {
  if (want != element)
    throw Error(InvalidArgument("column '" + name + "' (" + type + ") holds " +
                                ElementTypeName(element) + " values, not " +
                                ElementTypeName(want)));
}

std::string_view Column::bytes(int64_t row) const {
  size_t size = ElementSize(element);
  if (offsets) {
    return {static_cast<const char*>(base) + offsets[row] * static_cast<int64_t>(size),
            static_cast<size_t>(offsets[row + 1] - offsets[row]) * size};
  }
  return {static_cast<const char*>(data) + row * width * static_cast<int64_t>(size),
          static_cast<size_t>(width) * size};
}

int64_t Column::row_size(int64_t row) const {
  return offsets ? offsets[row + 1] - offsets[row] : width;
}

const Column& ColumnBatch::column(std::string_view name) const {
  for (auto& c : columns_)
    if (c.name == name) return c;
  throw Error(
      InvalidArgument("no column '" + std::string(name) + "' in a batch of columns " + schema()));
}

std::string ColumnBatch::schema() const {
  ColumnSchema s;
  for (auto& c : columns_) s.emplace_back(c.name, c.type);
  return SchemaString(s);
}

Result<ColumnBatch> ColumnBatchBuilder::Make(std::shared_ptr<arrow::RecordBatch> rb) {
  ColumnBatch b;
  b.rows_ = rb->num_rows();
  for (int i = 0; i < rb->num_columns(); ++i) {
    auto c = MakeColumn(rb->column_name(i), *rb->column(i));
    if (!c.ok()) return c.status();
    b.columns_.push_back(std::move(*c));
  }
  b.keep_ = std::move(rb);
  return b;
}

Result<ColumnBatch> DecodeArrowRecord(std::string_view record) {
  auto rb = ReadRecord(record);
  if (!rb.ok()) return rb.status();
  return ColumnBatchBuilder::Make(std::move(*rb));
}

// One received record and how far the program has read it.
struct Pending {
  std::shared_ptr<arrow::RecordBatch> batch;
  Origin origin;
  int64_t pos = 0;
  int64_t left() const { return batch->num_rows() - pos; }
};

struct ColumnFeed::Impl {
  DataFeed& feed;
  ColumnFeedOptions options;
  std::deque<Pending> pending;
  uint64_t rows_consumed = 0;
  bool ended = false;
  // Inference: the record being answered, the rows handed out and the results so far.
  bool inference = false;
  int64_t rows_out = 0;  // rows of the current batch awaiting results
  int64_t answered = 0;  // rows of the front record answered
  std::vector<std::shared_ptr<arrow::Array>> result_chunks;

  Impl(DataFeed& f, ColumnFeedOptions o) : feed(f), options(std::move(o)) {}

  Status Check(const arrow::RecordBatch& rb, const Origin& origin) const {
    if (!options.expect.empty()) {
      ColumnSchema got = SchemaOf(*rb.schema());
      if (!columns_internal::Matches(got, options.expect))
        return InvalidArgument("feed '" + feed.name() + "': the rows of Spark partition " +
                               origin.partition + " have the columns (" + SchemaString(got) +
                               "); this program expects (" + SchemaString(options.expect) +
                               "): select or cast the DataFrame's columns to match");
    }
    std::string column;
    int64_t row = 0;
    if (columns_internal::FirstNull(rb, &column, &row)) {
      return InvalidArgument("feed '" + feed.name() + "': column '" + column + "' is null in " +
                             origin.Where(row) +
                             ": fill or drop nulls before training (DataFrame.na.fill / "
                             "na.drop)");
    }
    return Status::OK();
  }

  // Takes the next record from the feed; false when the feed is over.
  bool Fetch() {
    if (ended) return false;
    Batch b = feed.next_batch(1);
    if (b.empty()) {
      ended = true;
      return false;
    }
    if (b.encoding() != "arrow")
      throw Error(InvalidArgument("feed '" + feed.name() + "' carries " + b.encoding() +
                                  " records, not Arrow batches: feed a DataFrame, or read "
                                  "this feed with DataFeed::next_batch"));
    inference = b.inference();
    auto rb = ReadRecord(b[0]);
    if (!rb.ok()) throw Error(rb.status().WithContext("feed '" + feed.name() + "'"));
    Origin origin = OriginOf(*(*rb)->schema());
    ThrowIfError(Check(**rb, origin));
    if (inference && (*rb)->num_rows() == 0) {
      // Nothing to predict: answer the empty record at once.
      pending.push_back({*rb, origin, 0});
      result_chunks.clear();
      answered = 0;
      SendResults();
      return Fetch();
    }
    pending.push_back({std::move(*rb), origin, 0});
    return true;
  }

  ColumnBatch Next(size_t n) {
    if (rows_out > 0)
      throw Error(InvalidArgument("feed '" + feed.name() + "': next_batch() called before " +
                                  "batch_results() returned the " + std::to_string(rows_out) +
                                  " results of the previous inference batch"));
    std::vector<std::shared_ptr<arrow::RecordBatch>> parts;
    int64_t want = static_cast<int64_t>(n), got = 0;
    while (got < want) {
      if (!pending.empty() && pending.front().left() == 0 && !inference) pending.pop_front();
      if (pending.empty() && !Fetch()) break;
      Pending& p = pending.front();
      int64_t take = std::min(want - got, p.left());
      parts.push_back(p.batch->Slice(p.pos, take));
      p.pos += take;
      got += take;
      if (inference) break;  // an inference batch never spans records
    }
    rows_consumed += static_cast<uint64_t>(got);
    if (inference) rows_out = got;
    if (parts.empty()) return ColumnBatch();
    std::shared_ptr<arrow::RecordBatch> rb = parts.front();
    if (parts.size() > 1) {
      auto joined = arrow::ConcatenateRecordBatches(parts);
      if (!joined.ok()) throw Error(FromArrow(joined.status(), "joining record batches"));
      rb = *joined;
    }
    auto b = ColumnBatchBuilder::Make(std::move(rb));
    if (!b.ok()) throw Error(b.status().WithContext("feed '" + feed.name() + "'"));
    return std::move(*b);
  }

  void Results(std::shared_ptr<arrow::Array> values) {
    if (!inference || pending.empty())
      throw Error(InvalidArgument("feed '" + feed.name() +
                                  "': batch_results() without an inference batch to answer"));
    if (values->length() != rows_out)
      throw Error(InvalidArgument("feed '" + feed.name() + "': batch_results() got " +
                                  std::to_string(values->length()) + " results for a batch of " +
                                  std::to_string(rows_out) + " rows; give one per row"));
    result_chunks.push_back(std::move(values));
    answered += rows_out;
    rows_out = 0;
    if (answered == pending.front().batch->num_rows()) SendResults();
  }

  // The front record is fully answered: its kept columns and the results, as one Arrow batch.
  void SendResults() {
    const auto& in = *pending.front().batch;
    std::vector<std::shared_ptr<arrow::Field>> fields;
    std::vector<std::shared_ptr<arrow::Array>> arrays;
    // The Spark task says which input columns it wants back and the result's name; the
    // program's options apply when it does not (a feed from elsewhere).
    std::vector<std::string> keep = options.keep_columns;
    std::string result_name = options.result_column;
    if (auto md = in.schema()->metadata()) {
      auto k = md->Get("tos.keep");
      if (k.ok()) {
        auto names = nlohmann::json::parse(*k, nullptr, false);
        if (!names.is_array())
          throw Error(DataLoss("feed '" + feed.name() + "': metadata tos.keep is not a list"));
        keep.clear();
        for (auto& n : names) keep.push_back(n.is_string() ? n.get<std::string>() : "");
        if (keep.empty()) keep.push_back("");
      }
      auto r = md->Get("tos.result");
      if (r.ok()) result_name = *r;
    }
    bool none = keep.size() == 1 && keep[0].empty();
    for (int i = 0; i < in.num_columns() && !none; ++i) {
      bool kept = keep.empty();
      for (auto& k : keep) kept = kept || k == in.column_name(i);
      if (!kept) continue;
      fields.push_back(in.schema()->field(i));
      arrays.push_back(in.column(i));
    }
    for (auto& k : keep)
      if (!k.empty() && !in.schema()->GetFieldByName(k))
        throw Error(InvalidArgument("feed '" + feed.name() + "': inference keeps column '" + k +
                                    "', which the input does not have (" +
                                    SchemaString(SchemaOf(*in.schema())) + ")"));
    std::shared_ptr<arrow::Array> result;
    if (result_chunks.empty()) {
      result = *arrow::MakeArrayOfNull(arrow::int64(), 0);
    } else if (result_chunks.size() == 1) {
      result = result_chunks[0];
    } else {
      auto joined = arrow::Concatenate(result_chunks);
      if (!joined.ok())
        throw Error(InvalidArgument("feed '" + feed.name() +
                                    "': the batches of one record gave results of different "
                                    "types: " +
                                    joined.status().ToString()));
      result = *joined;
    }
    fields.push_back(arrow::field(result_name, result->type()));
    arrays.push_back(result);
    auto out = arrow::RecordBatch::Make(arrow::schema(fields), in.num_rows(), arrays);
    auto sink = arrow::io::BufferOutputStream::Create();
    std::shared_ptr<arrow::Buffer> bytes;
    arrow::Status st = sink.status();
    if (st.ok()) {
      auto writer = arrow::ipc::MakeStreamWriter(*sink, out->schema());
      st = writer.status();
      if (st.ok()) st = (*writer)->WriteRecordBatch(*out);
      if (st.ok()) st = (*writer)->Close();
      if (st.ok()) {
        auto finished = (*sink)->Finish();
        st = finished.status();
        if (st.ok()) bytes = *finished;
      }
    }
    if (!st.ok()) throw Error(Internal("writing inference results as Arrow: " + st.ToString()));
    pending.pop_front();
    result_chunks.clear();
    answered = 0;
    feed.batch_results({bytes->ToString()});
  }
};

ColumnFeed::ColumnFeed(DataFeed& feed, ColumnFeedOptions options)
    : impl_(std::make_unique<Impl>(feed, std::move(options))) {}
ColumnFeed::~ColumnFeed() = default;

ColumnBatch ColumnFeed::next_batch(size_t n) { return impl_->Next(n); }

bool ColumnFeed::should_stop() const {
  for (auto& p : impl_->pending)
    if (p.left() > 0) return false;
  return impl_->feed.should_stop();
}

uint64_t ColumnFeed::rows_consumed() const { return impl_->rows_consumed; }

void ColumnFeed::batch_results(const std::vector<int64_t>& results) {
  arrow::Int64Builder b;
  ThrowIfError(FromArrow(b.AppendValues(results), "building results"));
  impl_->Results(*b.Finish());
}

void ColumnFeed::batch_results(const std::vector<double>& results) {
  arrow::DoubleBuilder b;
  ThrowIfError(FromArrow(b.AppendValues(results), "building results"));
  impl_->Results(*b.Finish());
}

void ColumnFeed::batch_results(const std::vector<std::string>& results) {
  arrow::StringBuilder b;
  ThrowIfError(FromArrow(b.AppendValues(results), "building results"));
  impl_->Results(*b.Finish());
}

}  // namespace tos
