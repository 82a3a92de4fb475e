// csv lines with a declared layout (src/formats/csv.cc): byte 0 picks one of a few layouts and
// the delimiter, the rest is the line. A decoded line must hold exactly the layout's values.
#include <cstdlib>
#include <string_view>

#include "tos/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kSpecs[] = {"y:float,x:float[2]", "a:int64[3],b:string", "s:string[2],f:float",
                                 "n:int64"};
  const char delim = (data[0] & 4) ? '\t' : ',';
  static const tos::CsvLayout layouts[2][4] = {
      {tos::CsvLayout::FromSpec(kSpecs[0]).value(), tos::CsvLayout::FromSpec(kSpecs[1]).value(),
       tos::CsvLayout::FromSpec(kSpecs[2]).value(), tos::CsvLayout::FromSpec(kSpecs[3]).value()},
      {tos::CsvLayout::FromSpec(kSpecs[0], '\t').value(),
       tos::CsvLayout::FromSpec(kSpecs[1], '\t').value(),
       tos::CsvLayout::FromSpec(kSpecs[2], '\t').value(),
       tos::CsvLayout::FromSpec(kSpecs[3], '\t').value()}};
  const tos::CsvLayout& layout = layouts[delim == '\t'][data[0] & 3];
  tos::Example row;
  if (!layout.Decode(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), &row)
           .ok())
    return 0;
  size_t values = 0;
  for (auto& [name, f] : row.features())
    values += f.int64s.size() + f.floats.size() + f.bytes.size();
  if (values != layout.num_fields()) std::abort();
  return 0;
}
