// tf.train.Example's protobuf wire format, by hand: it is four small messages, and decoding
// them directly (no generated code, no protobuf runtime in the core) keeps the core free of a
// protoc step and lets every count be checked against the bytes present.
//
//   Example   { Features features = 1; }
//   Features  { map<string, Feature> feature = 1; }   // entries: key = 1, value = 2
//   Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
//                            Int64List int64_list = 3; } }
//   BytesList { repeated bytes value = 1; }
//   FloatList { repeated float value = 1 [packed]; }
//   Int64List { repeated int64 value = 1 [packed]; }
#include "tos/example.h"

#include <cstring>

namespace tos {
namespace {

// Floats travel as little-endian IEEE 754, copied as they are in memory.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "example.cc assumes a little-endian host");

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A bounded view of the input that knows where it is in the whole message.
class Cursor {
 public:
  Cursor(std::string_view data, size_t base) : data_(data), base_(base) {}
  bool done() const { return pos_ >= data_.size(); }
  size_t offset() const { return base_ + pos_; }

  Status Fail(const std::string& what) const {
    return DataLoss("tf.train.Example: offset " + std::to_string(offset()) + ": " + what);
  }

  Status Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Fail("varint cut short");
      const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return Status::OK();
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  Status Tag(int* field, int* wire) {
    uint64_t t = 0;
    TOS_RETURN_IF_ERROR(Varint(&t));
    *field = static_cast<int>(t >> 3);
    *wire = static_cast<int>(t & 7);
    if (*field == 0 || t >> 3 > 0x1fffffff) return Fail("field number " + std::to_string(t >> 3));
    return Status::OK();
  }

  // A length-delimited field's bytes, as a cursor over them.
  Status Sub(Cursor* sub) {
    uint64_t len = 0;
    TOS_RETURN_IF_ERROR(Varint(&len));
    if (len > data_.size() - pos_) {
      return Fail("a field of " + std::to_string(len) + " bytes where " +
                  std::to_string(data_.size() - pos_) + " remain");
    }
    *sub = Cursor(data_.substr(pos_, len), offset());
    pos_ += len;
    return Status::OK();
  }

  Status Fixed32(uint32_t* v) {
    if (data_.size() - pos_ < 4) return Fail("fixed32 cut short");
    std::memcpy(v, data_.data() + pos_, 4);  // little-endian, as the wire format
    pos_ += 4;
    return Status::OK();
  }

  Status Skip(int wire) {
    uint64_t v = 0;
    Cursor sub({}, 0);
    switch (wire) {
      case kVarint:
        return Varint(&v);
      case kFixed64:
        if (data_.size() - pos_ < 8) return Fail("fixed64 cut short");
        pos_ += 8;
        return Status::OK();
      case kLengthDelimited:
        return Sub(&sub);
      case kFixed32:
        if (data_.size() - pos_ < 4) return Fail("fixed32 cut short");
        pos_ += 4;
        return Status::OK();
      default:
        return Fail("wire type " + std::to_string(wire) +
                    " (groups are not used by tf.train.Example)");
    }
  }

  std::string_view rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
};

// The value field (1) of a list message, given packed (one length-delimited run, handed to
// read_packed) or one value at a time with wire type `single` (read_one); other fields are
// skipped.
template <typename ReadPacked, typename ReadOne>
Status ForEachValue(Cursor c, int single, ReadPacked read_packed, ReadOne read_one) {
  while (!c.done()) {
    int field, wire;
    TOS_RETURN_IF_ERROR(c.Tag(&field, &wire));
    if (field == 1 && wire == kLengthDelimited) {
      Cursor packed({}, 0);
      TOS_RETURN_IF_ERROR(c.Sub(&packed));
      TOS_RETURN_IF_ERROR(read_packed(packed));
    } else if (field == 1 && wire == single) {
      TOS_RETURN_IF_ERROR(read_one(c));
    } else {
      TOS_RETURN_IF_ERROR(c.Skip(wire));
    }
  }
  return Status::OK();
}

// The list parsers append: a list message given twice is merged, as protobuf merges it.
Status ParseInt64List(Cursor c, std::vector<int64_t>* out) {
  auto one = [out](Cursor& from) {
    uint64_t v = 0;
    TOS_RETURN_IF_ERROR(from.Varint(&v));
    out->push_back(static_cast<int64_t>(v));
    return Status::OK();
  };
  return ForEachValue(
      c, kVarint,
      [&](Cursor& packed) {
        while (!packed.done()) TOS_RETURN_IF_ERROR(one(packed));
        return Status::OK();
      },
      one);
}

Status ParseFloatList(Cursor c, std::vector<float>* out) {
  return ForEachValue(
      c, kFixed32,
      [out](Cursor& packed) {
        const std::string_view bytes = packed.rest();
        if (bytes.size() % 4 != 0) {
          return packed.Fail("a packed float list of " + std::to_string(bytes.size()) +
                             " bytes (not a multiple of 4)");
        }
        if (bytes.empty()) return Status::OK();  // memcpy may not be given a null pointer
        const size_t at = out->size();
        out->resize(at + bytes.size() / 4);
        std::memcpy(out->data() + at, bytes.data(), bytes.size());
        return Status::OK();
      },
      [out](Cursor& from) {
        uint32_t bits = 0;
        TOS_RETURN_IF_ERROR(from.Fixed32(&bits));
        float f;
        std::memcpy(&f, &bits, 4);
        out->push_back(f);
        return Status::OK();
      });
}

Status ParseBytesList(Cursor c, std::vector<std::string>* out) {
  while (!c.done()) {
    int field, wire;
    TOS_RETURN_IF_ERROR(c.Tag(&field, &wire));
    if (field == 1 && wire == kLengthDelimited) {
      Cursor value({}, 0);
      TOS_RETURN_IF_ERROR(c.Sub(&value));
      out->emplace_back(value.rest());
    } else {
      TOS_RETURN_IF_ERROR(c.Skip(wire));
    }
  }
  return Status::OK();
}

// Into *f, which may hold what an earlier occurrence of the same map value gave.
Status ParseFeature(Cursor c, Example::Feature* f) {
  while (!c.done()) {
    int field, wire;
    TOS_RETURN_IF_ERROR(c.Tag(&field, &wire));
    if (wire != kLengthDelimited || field > 3) {
      TOS_RETURN_IF_ERROR(c.Skip(wire));
      continue;
    }
    Cursor list({}, 0);
    TOS_RETURN_IF_ERROR(c.Sub(&list));
    // A oneof: another kind of list replaces the feature's; the same kind again is merged
    // into it (its values appended), as protobuf does.
    const Example::Kind kind = field == 1   ? Example::Kind::kBytes
                               : field == 2 ? Example::Kind::kFloat
                                            : Example::Kind::kInt64;
    if (kind != f->kind) *f = Example::Feature{};
    if (field == 1) {
      f->kind = Example::Kind::kBytes;
      TOS_RETURN_IF_ERROR(ParseBytesList(list, &f->bytes));
    } else if (field == 2) {
      f->kind = Example::Kind::kFloat;
      TOS_RETURN_IF_ERROR(ParseFloatList(list, &f->floats));
    } else {
      f->kind = Example::Kind::kInt64;
      TOS_RETURN_IF_ERROR(ParseInt64List(list, &f->int64s));
    }
  }
  return Status::OK();
}

Status ParseFeatures(Cursor c, std::map<std::string, Example::Feature>* out) {
  while (!c.done()) {
    int field, wire;
    TOS_RETURN_IF_ERROR(c.Tag(&field, &wire));
    if (field != 1 || wire != kLengthDelimited) {
      TOS_RETURN_IF_ERROR(c.Skip(wire));
      continue;
    }
    Cursor entry({}, 0);
    TOS_RETURN_IF_ERROR(c.Sub(&entry));
    std::string key;
    Example::Feature feature;
    while (!entry.done()) {
      int f, w;
      TOS_RETURN_IF_ERROR(entry.Tag(&f, &w));
      if (f == 1 && w == kLengthDelimited) {
        Cursor k({}, 0);
        TOS_RETURN_IF_ERROR(entry.Sub(&k));
        key = std::string(k.rest());
      } else if (f == 2 && w == kLengthDelimited) {
        Cursor v({}, 0);
        TOS_RETURN_IF_ERROR(entry.Sub(&v));
        TOS_RETURN_IF_ERROR(ParseFeature(v, &feature));
      } else {
        TOS_RETURN_IF_ERROR(entry.Skip(w));
      }
    }
    (*out)[key] = std::move(feature);  // a key given twice: the last wins, as in protobuf maps
  }
  return Status::OK();
}

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutLengthDelimited(int field, std::string_view bytes, std::string* out) {
  PutVarint(static_cast<uint64_t>(field) << 3 | kLengthDelimited, out);
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

std::string SerializeFeature(const Example::Feature& f) {
  std::string list;
  switch (f.kind) {
    case Example::Kind::kNone:
      return "";
    case Example::Kind::kBytes: {
      for (auto& b : f.bytes) PutLengthDelimited(1, b, &list);
      std::string out;
      PutLengthDelimited(1, list, &out);
      return out;
    }
    case Example::Kind::kFloat: {
      std::string packed(f.floats.size() * 4, '\0');
      if (!f.floats.empty()) std::memcpy(packed.data(), f.floats.data(), packed.size());
      if (!f.floats.empty()) PutLengthDelimited(1, packed, &list);
      std::string out;
      PutLengthDelimited(2, list, &out);
      return out;
    }
    case Example::Kind::kInt64: {
      std::string packed;
      for (int64_t v : f.int64s) PutVarint(static_cast<uint64_t>(v), &packed);
      if (!f.int64s.empty()) PutLengthDelimited(1, packed, &list);
      std::string out;
      PutLengthDelimited(3, list, &out);
      return out;
    }
  }
  return "";
}

}  // namespace

const char* ExampleKindName(Example::Kind kind) {
  switch (kind) {
    case Example::Kind::kInt64:
      return "int64_list";
    case Example::Kind::kFloat:
      return "float_list";
    case Example::Kind::kBytes:
      return "bytes_list";
    case Example::Kind::kNone:
      break;
  }
  return "no list";
}

Result<Example> Example::Parse(std::string_view serialized) {
  Example e;
  Cursor c(serialized, 0);
  while (!c.done()) {
    int field, wire;
    TOS_RETURN_IF_ERROR(c.Tag(&field, &wire));
    if (field == 1 && wire == kLengthDelimited) {
      Cursor features({}, 0);
      TOS_RETURN_IF_ERROR(c.Sub(&features));
      TOS_RETURN_IF_ERROR(ParseFeatures(features, &e.features_));  // a second Features merges
    } else {
      TOS_RETURN_IF_ERROR(c.Skip(wire));
    }
  }
  return e;
}

std::string Example::Serialize() const {
  std::string features;
  for (auto& [name, f] : features_) {
    std::string entry;
    PutLengthDelimited(1, name, &entry);
    PutLengthDelimited(2, SerializeFeature(f), &entry);
    PutLengthDelimited(1, entry, &features);
  }
  std::string out;
  if (!features_.empty()) PutLengthDelimited(1, features, &out);
  return out;
}

void Example::SetInt64s(const std::string& name, std::vector<int64_t> values) {
  Feature f;
  f.kind = Kind::kInt64;
  f.int64s = std::move(values);
  features_[name] = std::move(f);
}

void Example::SetFloats(const std::string& name, std::vector<float> values) {
  Feature f;
  f.kind = Kind::kFloat;
  f.floats = std::move(values);
  features_[name] = std::move(f);
}

void Example::SetBytes(const std::string& name, std::vector<std::string> values) {
  Feature f;
  f.kind = Kind::kBytes;
  f.bytes = std::move(values);
  features_[name] = std::move(f);
}

const Example::Feature* Example::Find(const std::string& name) const {
  auto it = features_.find(name);
  return it == features_.end() ? nullptr : &it->second;
}

Result<const Example::Feature*> Example::Get(const std::string& name, Kind want) const {
  const Feature* f = Find(name);
  if (f == nullptr) {
    std::string names;
    for (auto& [n, unused] : features_) names += (names.empty() ? "" : ", ") + n;
    return NotFound("tf.train.Example has no feature '" + name +
                    "' (it has: " + (names.empty() ? "none" : names) + ")");
  }
  if (f->kind != want) {
    return InvalidArgument("tf.train.Example feature '" + name + "' is a " +
                           ExampleKindName(f->kind) + ", not a " + ExampleKindName(want));
  }
  return f;
}

Result<const std::vector<int64_t>*> Example::Int64s(const std::string& name) const {
  TOS_ASSIGN_OR_RETURN(const Feature* f, Get(name, Kind::kInt64));
  return &f->int64s;
}

Result<const std::vector<float>*> Example::Floats(const std::string& name) const {
  TOS_ASSIGN_OR_RETURN(const Feature* f, Get(name, Kind::kFloat));
  return &f->floats;
}

Result<const std::vector<std::string>*> Example::Bytes(const std::string& name) const {
  TOS_ASSIGN_OR_RETURN(const Feature* f, Get(name, Kind::kBytes));
  return &f->bytes;
}

bool Example::operator==(const Example& other) const {
  if (features_.size() != other.features_.size()) return false;
  for (auto& [name, f] : features_) {
    const Feature* g = other.Find(name);
    if (g == nullptr || g->kind != f.kind || g->int64s != f.int64s || g->bytes != f.bytes)
      return false;
    if (g->floats.size() != f.floats.size() ||
        (!f.floats.empty() &&
         std::memcmp(g->floats.data(), f.floats.data(), f.floats.size() * sizeof(float)) != 0)) {
      return false;  // bitwise: NaNs compare equal to themselves here
    }
  }
  return true;
}

}  // namespace tos
