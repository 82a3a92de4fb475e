#include "tos/tuple_record.h"

#include <cstring>

namespace tos {
namespace {

size_t ElementSize(TupleType t) {
  switch (t) {
    case TupleType::kUint8:
    case TupleType::kString:
    case TupleType::kBytes:
      return 1;
    case TupleType::kInt32:
    case TupleType::kFloat32:
      return 4;
    case TupleType::kInt64:
    case TupleType::kFloat64:
      return 8;
  }
  return 0;
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the wire is little-endian, as is every supported host
  return v;
}

uint32_t LoadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return u[0] | (u[1] << 8) | (u[2] << 16) | (static_cast<uint32_t>(u[3]) << 24);
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

double TupleField::at(size_t i) const {
  const char* p = raw.data() + i * ElementSize(type);
  switch (type) {
    case TupleType::kUint8:
      return static_cast<unsigned char>(*p);
    case TupleType::kInt32:
      return Load<int32_t>(p);
    case TupleType::kInt64:
      return static_cast<double>(Load<int64_t>(p));
    case TupleType::kFloat32:
      return Load<float>(p);
    case TupleType::kFloat64:
      return Load<double>(p);
    default:
      return 0;
  }
}

Result<std::vector<TupleField>> DecodeTupleRecord(std::string_view record) {
  if (record.size() < 4)
    return DataLoss("tuple record of " + std::to_string(record.size()) +
                    " bytes has no field count");
  uint32_t n = LoadU32(record.data());
  size_t off = 4;
  std::vector<TupleField> fields;
  fields.reserve(n < 64 ? n : 64);
  for (uint32_t f = 0; f < n; ++f) {
    if (record.size() - off < 5) {
      return DataLoss("tuple record: field " + std::to_string(f) + " of " + std::to_string(n) +
                      ": header truncated at byte " + std::to_string(off));
    }
    uint8_t type = static_cast<uint8_t>(record[off]);
    if (type < 1 || type > 7) {
      return DataLoss("tuple record: field " + std::to_string(f) + ": unknown type " +
                      std::to_string(type) + " at byte " + std::to_string(off));
    }
    TupleField field;
    field.type = static_cast<TupleType>(type);
    field.count = LoadU32(record.data() + off + 1);
    off += 5;
    uint64_t bytes = static_cast<uint64_t>(field.count) * ElementSize(field.type);
    if (bytes > record.size() - off) {
      return DataLoss("tuple record: field " + std::to_string(f) + ": " +
                      std::to_string(field.count) + " elements run past the record end (byte " +
                      std::to_string(off) + ")");
    }
    field.raw = record.substr(off, bytes);
    off += bytes;
    fields.push_back(field);
  }
  if (off != record.size())
    return DataLoss("tuple record: " + std::to_string(record.size() - off) +
                    " bytes after the last field");
  return fields;
}

void AppendTupleHeader(std::string* out, uint32_t field_count) { PutU32(out, field_count); }

void AppendTupleField(std::string* out, TupleType type, const void* data, uint32_t count) {
  out->push_back(static_cast<char>(type));
  PutU32(out, count);
  out->append(static_cast<const char*>(data), count * ElementSize(type));
}

}  // namespace tos
