// What the columns library's two translation units share (Arrow types; not installed).
#pragma once

#include <arrow/api.h>

#include <functional>
#include <memory>
#include <string>

#include "tos/columns.h"

namespace tos {

struct ColumnBatchBuilder {
  static Result<ColumnBatch> Make(std::shared_ptr<arrow::RecordBatch> rb);
};

namespace columns_internal {

std::string SchemaString(const ColumnSchema& s);
ColumnSchema SchemaOf(const arrow::Schema& s);
// Every expected (name, type) is among `got`.
bool Matches(const ColumnSchema& got, const ColumnSchema& expect);
// The first null of a batch's columns: false if there is none.
bool FirstNull(const arrow::RecordBatch& rb, std::string* column, int64_t* row);

}  // namespace columns_internal
}  // namespace tos
