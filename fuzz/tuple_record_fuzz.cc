// "tuple" feed records (src/spark/tuple_record.cc): field headers, counts, element sizes, and
// converting every element of every numeric field.
#include <string_view>

#include "fuzz_util.h"
#include "tos/tuple_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = tos::DecodeTupleRecord(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r.ok()) return 0;
  size_t total = 4;
  for (const auto& f : *r) {
    total += 5 + f.raw.size();
    if (!f.numeric()) continue;
    for (double v : f.values<double>()) tos::fuzz::Consume(v);
  }
  if (total != size) __builtin_trap();  // a decoded record accounts for every byte
  return 0;
}
