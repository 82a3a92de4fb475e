// csv lines with a declared column layout: each line becomes a tos::Example whose features are
// the layout's columns, typed and named.
//
//   auto layout = tos::CsvLayout::FromSpec("y:float,x:float[2],id:string").value();
//   tos::Example row;
//   tos::Status st = layout.Decode("0.5,1,2,row-7", &row);   // y=[0.5], x=[1,2], id=["row-7"]
//
// Fields are separated by the delimiter (default ','); a field may be quoted ("a,b", with ""
// for a quote inside), as RFC 4180 writes them. Numbers are parsed without locale and without
// surrounding blanks: int64 as decimal, float as decimal or exponent notation ("1e-3", "inf",
// "nan" included; too small for a float is 0 or a subnormal, as strtof gives, too large is an
// error). An empty numeric field is an error, as is a line with more or fewer fields than the
// layout: each error names the column, its position and the text found. Spec:
// docs/formats.md#csv-with-a-layout.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tos/example.h"
#include "tos/status.h"

namespace tos {

enum class CsvType { kInt64, kFloat, kString };

struct CsvColumn {
  std::string name;
  CsvType type = CsvType::kFloat;
  size_t count = 1;  // a run of this many fields, one feature of `count` values
};

class CsvLayout {
 public:
  // "name:type" or "name:type[n]", comma-separated; type is int64, float or string.
  // InvalidArgument naming the part that is not one.
  static Result<CsvLayout> FromSpec(const std::string& spec, char delimiter = ',');
  CsvLayout(std::vector<CsvColumn> columns, char delimiter = ',');

  // Replaces *out's features with this line's (a trailing "\r" is dropped).
  Status Decode(std::string_view line, Example* out) const;

  size_t num_fields() const { return num_fields_; }
  const std::vector<CsvColumn>& columns() const { return columns_; }
  std::string ToSpec() const;

 private:
  std::vector<CsvColumn> columns_;
  char delimiter_;
  size_t num_fields_ = 0;
};

}  // namespace tos
