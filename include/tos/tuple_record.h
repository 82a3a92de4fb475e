// "tuple" feed records (docs/spark.md, "Tuple records"): what the Spark bridge sends for RDD
// elements that are tuples or lists of numbers, strings or numpy arrays, e.g. the
// (image, label) pairs of images.zip(labels). Batch::encoding() says "tuple" for them.
//
//   record := u32 field_count | field*
//   field  := u8 type | u32 count | count elements, little-endian
//   type   :  1 uint8, 2 int32, 3 int64, 4 float32, 5 float64, 6 UTF-8 string, 7 bytes
//             (6 and 7: count is the byte length)
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

enum class TupleType : uint8_t {
  kUint8 = 1,
  kInt32 = 2,
  kInt64 = 3,
  kFloat32 = 4,
  kFloat64 = 5,
  kString = 6,
  kBytes = 7
};

struct TupleField {
  TupleType type = TupleType::kUint8;
  uint32_t count = 0;    // elements (bytes for kString and kBytes)
  std::string_view raw;  // count elements, little-endian, unaligned; views into the record

  bool numeric() const { return type != TupleType::kString && type != TupleType::kBytes; }
  double at(size_t i) const;  // element i of a numeric field, converted
  // All elements converted to T (numeric fields only).
  template <typename T>
  std::vector<T> values() const {
    std::vector<T> out(count);
    for (size_t i = 0; i < count; ++i) out[i] = static_cast<T>(at(i));
    return out;
  }
};

// Splits one record into its fields (views into `record`). DataLoss says which field is
// malformed and at which byte offset.
Result<std::vector<TupleField>> DecodeTupleRecord(std::string_view record);

// Builds records (for tests and C++ senders).
void AppendTupleHeader(std::string* out, uint32_t field_count);
void AppendTupleField(std::string* out, TupleType type, const void* data, uint32_t count);

}  // namespace tos
