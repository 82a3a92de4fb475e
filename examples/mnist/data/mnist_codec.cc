// Encoders and decoders for one MNIST record in csv, csv2 and tf.train.Example form.
// These run once per record on the feed path, so they avoid allocation, iostreams and strtol.
#include <cstdlib>
#include <cstring>

#include "mnist_dataset.h"
#include "mnist_fast.h"

namespace tos {
namespace {

// ---------------------------------------------------------------- text ----

struct PixelText {
  char text[256][4];  // "123," padded: always copy 4 bytes, advance by len
  uint8_t len[256];
  PixelText() {
    for (int v = 0; v < 256; ++v) {
      char buf[8];
      int n = 0;
      if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
      buf[n++] = static_cast<char>('0' + v % 10);
      buf[n++] = ',';
      std::memset(text[v], ',', 4);
      std::memcpy(text[v], buf, n);
      len[v] = static_cast<uint8_t>(n);
    }
  }
};

const PixelText& GetPixelText() {
  static const PixelText table;
  return table;
}

struct LabelText {
  std::string line[kMnistClasses];  // "0.0,...,1.0,...,0.0\n"
  LabelText() {
    for (size_t l = 0; l < kMnistClasses; ++l) {
      for (size_t k = 0; k < kMnistClasses; ++k) {
        line[l] += (k == l) ? "1.0" : "0.0";
        line[l] += (k + 1 < kMnistClasses) ? ',' : '\n';
      }
    }
  }
};

const LabelText& GetLabelText() {
  static const LabelText table;
  return table;
}

void AppendPixels(const uint8_t* pixels, std::string* out) {
  const PixelText& t = GetPixelText();
  const size_t old = out->size();
  out->resize(old + kMnistPixels * 4);
  char* begin = out->data() + old;
  char* p = begin;
  for (size_t i = 0; i < kMnistPixels; ++i) {
    std::memcpy(p, t.text[pixels[i]], 4);
    p += t.len[pixels[i]];
  }
  p[-1] = '\n';  // the last comma becomes the line end
  out->resize(old + static_cast<size_t>(p - begin));
}

std::string Quote(const char* s, const char* end) {
  const char* e = s;
  while (e < end && *e != ',' && e - s < 24) ++e;
  return "'" + std::string(s, e) + (e < end && *e != ',' ? "...'" : "'");
}

inline bool IsDigit(char c) { return static_cast<unsigned>(c - '0') < 10; }

// Parses exactly kMnistPixels comma-separated ints 0..255 spanning [p, end).
Status ParsePixels(const char* p, const char* end, uint8_t* pixels) {
  if (internal::ParseCsvPixelsFast(p, end, pixels)) return Status::OK();
  // The exact path: also the one that explains what is wrong.
  for (size_t i = 0; i < kMnistPixels; ++i) {
    const char* s = p;
    unsigned v = 0;
    if (p < end && IsDigit(*p)) {
      v = static_cast<unsigned>(*p++ - '0');
      if (p < end && IsDigit(*p)) {
        v = v * 10 + static_cast<unsigned>(*p++ - '0');
        if (p < end && IsDigit(*p)) v = v * 10 + static_cast<unsigned>(*p++ - '0');
      }
    }
    const bool at_sep = (p == end) || (*p == ',');
    if (p == s || !at_sep || v > 255) {
      if (p == s && p == end) {
        return DataLoss("image has " + std::to_string(i) + " values, expected " +
                        std::to_string(kMnistPixels));
      }
      return DataLoss("image value " + std::to_string(i + 1) + " " + Quote(s, end) +
                      " is not an integer in 0..255");
    }
    pixels[i] = static_cast<uint8_t>(v);
    if (i + 1 < kMnistPixels) {
      if (p == end) {
        return DataLoss("image has " + std::to_string(i + 1) + " values, expected " +
                        std::to_string(kMnistPixels));
      }
      ++p;  // ','
    }
  }
  if (p != end) {
    return DataLoss("image has more than " + std::to_string(kMnistPixels) + " values");
  }
  return Status::OK();
}

// One label token: 0 or 1 (any spelling strtod reads: "0", "1.0", "1e0"); *value set.
bool ParseBinaryToken(const char* s, const char* e, int* value) {
  const size_t n = static_cast<size_t>(e - s);
  if (n == 3 && s[1] == '.' && s[2] == '0' && (s[0] == '0' || s[0] == '1')) {
    *value = s[0] - '0';
    return true;
  }
  if (n == 1 && (s[0] == '0' || s[0] == '1')) {
    *value = s[0] - '0';
    return true;
  }
  if (n == 0 || n > 31) return false;
  char buf[32];
  std::memcpy(buf, s, n);
  buf[n] = '\0';
  char* parse_end = nullptr;
  double d = std::strtod(buf, &parse_end);
  if (parse_end != buf + n) return false;
  if (d == 0.0)
    *value = 0;
  else if (d == 1.0)
    *value = 1;
  else
    *value = 2;  // a number, but not one-hot
  return true;
}

}  // namespace

void AppendMnistCsvImageLine(const uint8_t* record, std::string* out) {
  AppendPixels(record + 1, out);
}

void AppendMnistCsvLabelLine(const uint8_t* record, std::string* out) {
  out->append(GetLabelText().line[record[0] % kMnistClasses]);
}

void AppendMnistCsv2Line(const uint8_t* record, std::string* out) {
  out->push_back(static_cast<char>('0' + record[0] % kMnistClasses));
  out->push_back('|');
  AppendPixels(record + 1, out);
}

Status DecodeMnistCsv2Line(std::string_view line, uint8_t* out) {
  size_t bar = line.find('|');
  if (bar == std::string_view::npos) {
    return DataLoss("csv2 line has no '|' between the label and the pixels");
  }
  std::string_view label = line.substr(0, bar);
  if (label.size() != 1 || !IsDigit(label[0])) {
    return DataLoss("csv2 label " + Quote(label.data(), label.data() + label.size()) +
                    " is not an integer in 0..9");
  }
  out[0] = static_cast<uint8_t>(label[0] - '0');
  return ParsePixels(line.data() + bar + 1, line.data() + line.size(), out + 1);
}

Status DecodeMnistCsvPair(std::string_view image_line, std::string_view label_line, uint8_t* out) {
  TOS_RETURN_IF_ERROR(
      ParsePixels(image_line.data(), image_line.data() + image_line.size(), out + 1));
  const char* p = label_line.data();
  const char* end = p + label_line.size();
  size_t count = 0;
  int hot = -1;
  size_t ones = 0;
  for (;;) {
    const char* s = p;
    while (p < end && *p != ',') ++p;
    int v;
    if (!ParseBinaryToken(s, p, &v)) {
      if (s == end && count == 0) return DataLoss("label line is empty");
      return DataLoss("label value " + std::to_string(count + 1) + " " + Quote(s, end) +
                      " is not a number");
    }
    if (count == 0 && p == end) {
      // A single class index instead of one-hot.
      char* parse_end = nullptr;
      std::string tok(s, p);
      long idx = std::strtol(tok.c_str(), &parse_end, 10);
      if (*parse_end != '\0' || idx < 0 || idx > 9) {
        return DataLoss("label " + Quote(s, end) + " is neither one-hot nor a class 0..9");
      }
      out[0] = static_cast<uint8_t>(idx);
      return Status::OK();
    }
    if (v == 2) {
      return DataLoss("label value " + std::to_string(count + 1) + " " + Quote(s, end) +
                      " is not 0 or 1 (labels are one-hot)");
    }
    if (v == 1) {
      hot = static_cast<int>(count);
      ++ones;
    }
    ++count;
    if (p == end) break;
    ++p;
  }
  if (count != kMnistClasses) {
    return DataLoss("label has " + std::to_string(count) + " values, expected " +
                    std::to_string(kMnistClasses) + " (one-hot)");
  }
  if (ones != 1) {
    return DataLoss("label has " + std::to_string(ones) +
                    " values equal to 1, expected exactly 1 "
                    "(one-hot)");
  }
  out[0] = static_cast<uint8_t>(hot);
  return Status::OK();
}

// ------------------------------------------------------------- Example ----
//
// message Example  { Features features = 1; }
// message Features { map<string, Feature> feature = 1; }   // entry: key = 1, value = 2
// message Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
//                                 Int64List int64_list = 3; } }
// message Int64List { repeated int64 value = 1 [packed = true]; }

namespace {

constexpr uint8_t kTagField1Bytes = 0x0a;  // field 1, wire type 2
constexpr uint8_t kTagField2Bytes = 0x12;  // field 2, wire type 2
constexpr uint8_t kTagField3Bytes = 0x1a;  // field 3, wire type 2

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Writes `entry` = {key: name, value: Feature{int64_list{packed values}}}, given the packed
// payload length; returns the pointer where the packed payload goes.
inline char* PutInt64FeatureEntryHeader(char* p, std::string_view name, size_t packed) {
  const size_t list = 1 + VarintLength(packed) + packed;
  const size_t feature = 1 + VarintLength(list) + list;
  const size_t entry = 2 + name.size() + 1 + VarintLength(feature) + feature;
  *p++ = static_cast<char>(kTagField1Bytes);
  p = PutVarint(p, entry);
  *p++ = static_cast<char>(kTagField1Bytes);
  p = PutVarint(p, name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = static_cast<char>(kTagField2Bytes);
  p = PutVarint(p, feature);
  *p++ = static_cast<char>(kTagField3Bytes);
  p = PutVarint(p, list);
  *p++ = static_cast<char>(kTagField1Bytes);
  return PutVarint(p, packed);
}

inline size_t EntryLength(std::string_view name, size_t packed) {
  const size_t list = 1 + VarintLength(packed) + packed;
  const size_t feature = 1 + VarintLength(list) + list;
  const size_t entry = 2 + name.size() + 1 + VarintLength(feature) + feature;
  return 1 + VarintLength(entry) + entry;
}

}  // namespace

void AppendMnistExample(const uint8_t* record, std::string* out) {
  const uint8_t* pixels = record + 1;
  size_t high = 0;
  for (size_t i = 0; i < kMnistPixels; ++i) high += pixels[i] >> 7;
  const size_t image_packed = kMnistPixels + high;
  const size_t label_packed = kMnistClasses;
  const size_t features = EntryLength("image", image_packed) + EntryLength("label", label_packed);
  const size_t total = 1 + VarintLength(features) + features;

  const size_t old = out->size();
  out->resize(old + total);
  char* p = out->data() + old;
  *p++ = static_cast<char>(kTagField1Bytes);
  p = PutVarint(p, features);
  p = PutInt64FeatureEntryHeader(p, "image", image_packed);
  for (size_t i = 0; i < kMnistPixels; ++i) {
    const uint8_t v = pixels[i];
    if (v < 0x80) {
      *p++ = static_cast<char>(v);
    } else {
      *p++ = static_cast<char>(v | 0x80);
      *p++ = 0x01;
    }
  }
  p = PutInt64FeatureEntryHeader(p, "label", label_packed);
  for (size_t k = 0; k < kMnistClasses; ++k) *p++ = (k == record[0]) ? 1 : 0;
}

namespace {

class ExampleDecoder {
 public:
  ExampleDecoder(std::string_view bytes, uint8_t* out)
      : base_(reinterpret_cast<const uint8_t*>(bytes.data())),
        end_(base_ + bytes.size()),
        out_(out) {}

  Status Run() {
    const uint8_t* p = base_;
    while (p < end_) {
      uint64_t tag;
      if (!ReadVarint(&p, end_, &tag)) return Malformed(p, "bad field tag");
      if (tag == kTagField1Bytes) {
        const uint8_t* body;
        size_t len;
        TOS_RETURN_IF_ERROR(ReadLengthDelimited(&p, end_, &body, &len));
        TOS_RETURN_IF_ERROR(Features(body, body + len));
      } else {
        TOS_RETURN_IF_ERROR(Skip(&p, end_, tag));
      }
    }
    if (!image_seen_) return DataLoss("Example has no 'image' feature");
    if (!label_seen_) return DataLoss("Example has no 'label' feature");
    if (image_count_ != kMnistPixels) {
      return DataLoss("Example feature 'image' has " + std::to_string(image_count_) +
                      " values, expected " + std::to_string(kMnistPixels));
    }
    if (label_count_ == 1) {
      if (label_values_[0] > 9) {
        return DataLoss("Example feature 'label' is " + std::to_string(label_values_[0]) +
                        ", expected a class 0..9");
      }
      out_[0] = static_cast<uint8_t>(label_values_[0]);
      return Status::OK();
    }
    if (label_count_ != kMnistClasses) {
      return DataLoss("Example feature 'label' has " + std::to_string(label_count_) +
                      " values, expected 10 (one-hot) or 1 (class index)");
    }
    int hot = -1;
    for (size_t k = 0; k < kMnistClasses; ++k) {
      if (label_values_[k] == 1 && hot < 0) {
        hot = static_cast<int>(k);
      } else if (label_values_[k] != 0) {
        return DataLoss("Example feature 'label' is not one-hot (value " + std::to_string(k) +
                        " is " + std::to_string(static_cast<int64_t>(label_values_[k])) + ")");
      }
    }
    if (hot < 0) return DataLoss("Example feature 'label' is all zeros, expected one-hot");
    out_[0] = static_cast<uint8_t>(hot);
    return Status::OK();
  }

 private:
  enum class Target { kNone, kImage, kLabel };

  static bool ReadVarint(const uint8_t** pp, const uint8_t* end, uint64_t* v) {
    const uint8_t* p = *pp;
    if (p < end && *p < 0x80) {
      *v = *p;
      *pp = p + 1;
      return true;
    }
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      const uint8_t b = *p++;
      result |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) {
        *v = result;
        *pp = p;
        return true;
      }
    }
    return false;
  }

  Status Malformed(const uint8_t* at, const std::string& what) const {
    return DataLoss("malformed Example protobuf at byte " + std::to_string(at - base_) + " of " +
                    std::to_string(end_ - base_) + ": " + what);
  }

  Status ReadLengthDelimited(const uint8_t** pp, const uint8_t* end, const uint8_t** body,
                             size_t* len) const {
    uint64_t n;
    const uint8_t* at = *pp;
    if (!ReadVarint(pp, end, &n)) return Malformed(at, "bad length");
    if (n > static_cast<uint64_t>(end - *pp)) {
      return Malformed(at, "length " + std::to_string(n) + " runs past the end of its message");
    }
    *body = *pp;
    *len = static_cast<size_t>(n);
    *pp += n;
    return Status::OK();
  }

  Status Skip(const uint8_t** pp, const uint8_t* end, uint64_t tag) const {
    const uint8_t* at = *pp;
    uint64_t v;
    switch (tag & 7) {
      case 0:
        if (!ReadVarint(pp, end, &v)) return Malformed(at, "bad varint");
        return Status::OK();
      case 1:
        if (end - *pp < 8) return Malformed(at, "truncated fixed64");
        *pp += 8;
        return Status::OK();
      case 2: {
        const uint8_t* body;
        size_t len;
        return ReadLengthDelimited(pp, end, &body, &len);
      }
      case 5:
        if (end - *pp < 4) return Malformed(at, "truncated fixed32");
        *pp += 4;
        return Status::OK();
      default:
        return Malformed(at, "unsupported wire type " + std::to_string(tag & 7));
    }
  }

  Status Features(const uint8_t* p, const uint8_t* end) {
    while (p < end) {
      uint64_t tag;
      if (!ReadVarint(&p, end, &tag)) return Malformed(p, "bad field tag");
      if (tag != kTagField1Bytes) {
        TOS_RETURN_IF_ERROR(Skip(&p, end, tag));
        continue;
      }
      const uint8_t* entry;
      size_t entry_len;
      TOS_RETURN_IF_ERROR(ReadLengthDelimited(&p, end, &entry, &entry_len));
      TOS_RETURN_IF_ERROR(MapEntry(entry, entry + entry_len));
    }
    return Status::OK();
  }

  Status MapEntry(const uint8_t* p, const uint8_t* end) {
    std::string_view key;
    const uint8_t* value = nullptr;
    size_t value_len = 0;
    while (p < end) {
      uint64_t tag;
      if (!ReadVarint(&p, end, &tag)) return Malformed(p, "bad field tag");
      if (tag == kTagField1Bytes) {
        const uint8_t* k;
        size_t n;
        TOS_RETURN_IF_ERROR(ReadLengthDelimited(&p, end, &k, &n));
        key = std::string_view(reinterpret_cast<const char*>(k), n);
      } else if (tag == kTagField2Bytes) {
        TOS_RETURN_IF_ERROR(ReadLengthDelimited(&p, end, &value, &value_len));
      } else {
        TOS_RETURN_IF_ERROR(Skip(&p, end, tag));
      }
    }
    Target target = key == "image"   ? Target::kImage
                    : key == "label" ? Target::kLabel
                                     : Target::kNone;
    if (target == Target::kNone) return Status::OK();
    // A map key seen again replaces the earlier value (protobuf map semantics).
    if (target == Target::kImage) {
      image_seen_ = true;
      image_count_ = 0;
    } else {
      label_seen_ = true;
      label_count_ = 0;
    }
    if (value == nullptr) return Status::OK();
    return Feature(value, value + value_len, key, target);
  }

  Status Feature(const uint8_t* p, const uint8_t* end, std::string_view key, Target target) {
    while (p < end) {
      uint64_t tag;
      if (!ReadVarint(&p, end, &tag)) return Malformed(p, "bad field tag");
      if (tag == kTagField3Bytes) {
        const uint8_t* list;
        size_t n;
        TOS_RETURN_IF_ERROR(ReadLengthDelimited(&p, end, &list, &n));
        TOS_RETURN_IF_ERROR(Int64List(list, list + n, key, target));
      } else if ((tag >> 3) == 1 || (tag >> 3) == 2) {
        return DataLoss("Example feature '" + std::string(key) + "' is a " +
                        ((tag >> 3) == 1 ? "bytes_list" : "float_list") +
                        ", expected an int64_list");
      } else {
        TOS_RETURN_IF_ERROR(Skip(&p, end, tag));
      }
    }
    return Status::OK();
  }

  Status Int64List(const uint8_t* p, const uint8_t* end, std::string_view key, Target target) {
    while (p < end) {
      uint64_t tag;
      if (!ReadVarint(&p, end, &tag)) return Malformed(p, "bad field tag");
      if (tag == kTagField1Bytes) {  // packed
        const uint8_t* q;
        size_t n;
        TOS_RETURN_IF_ERROR(ReadLengthDelimited(&p, end, &q, &n));
        if (target == Target::kImage) {
          TOS_RETURN_IF_ERROR(PackedPixels(q, q + n));
        } else {
          const uint8_t* qend = q + n;
          while (q < qend) {
            uint64_t v;
            const uint8_t* at = q;
            if (!ReadVarint(&q, qend, &v)) return Malformed(at, "bad packed varint");
            AddLabel(v);
          }
        }
      } else if (tag == 0x08) {  // field 1, varint: one unpacked value
        uint64_t v;
        const uint8_t* at = p;
        if (!ReadVarint(&p, end, &v)) return Malformed(at, "bad varint");
        if (target == Target::kImage) {
          TOS_RETURN_IF_ERROR(AddPixel(v));
        } else {
          AddLabel(v);
        }
      } else {
        TOS_RETURN_IF_ERROR(Skip(&p, end, tag));
      }
    }
    return Status::OK();
  }

  Status PixelRangeError(uint64_t v) const {
    return DataLoss("Example feature 'image' value " + std::to_string(image_count_ + 1) + " is " +
                    std::to_string(static_cast<int64_t>(v)) + ", expected 0..255");
  }

  Status AddPixel(uint64_t v) {
    if (v > 255) return PixelRangeError(v);
    if (image_count_ < kMnistPixels) out_[1 + image_count_] = static_cast<uint8_t>(v);
    ++image_count_;
    return Status::OK();
  }

  // The hot loop: pixel varints are one byte (< 128) or two bytes (128..255).
  Status PackedPixels(const uint8_t* q, const uint8_t* end) {
    if (image_count_ == 0 &&
        internal::DecodePackedPixelsFast(q, static_cast<size_t>(end - q), out_ + 1)) {
      image_count_ = kMnistPixels;
      return Status::OK();
    }
    uint8_t* pix = out_ + 1;
    size_t count = image_count_;
    while (q < end) {
      uint32_t b = *q++;
      if (b >= 0x80) {
        if (q >= end || *q >= 0x80) {
          // Longer varint: out of range or malformed either way; let the slow path say which.
          image_count_ = count;
          const uint8_t* at = q - 1;
          uint64_t v;
          q = at;
          if (!ReadVarint(&q, end, &v)) return Malformed(at, "bad packed varint");
          return PixelRangeError(v);
        }
        b = (b & 0x7f) | (uint32_t{*q++} << 7);
        if (b > 255) {
          image_count_ = count;
          return PixelRangeError(b);
        }
      }
      if (count < kMnistPixels) pix[count] = static_cast<uint8_t>(b);
      ++count;
    }
    image_count_ = count;
    return Status::OK();
  }

  void AddLabel(uint64_t v) {
    if (label_count_ < kMnistClasses) label_values_[label_count_] = v;
    ++label_count_;
  }

  const uint8_t* base_;
  const uint8_t* end_;
  uint8_t* out_;
  bool image_seen_ = false;
  bool label_seen_ = false;
  size_t image_count_ = 0;
  size_t label_count_ = 0;
  uint64_t label_values_[kMnistClasses] = {};
};

}  // namespace

Status DecodeMnistExample(std::string_view example_bytes, uint8_t* out) {
  return ExampleDecoder(example_bytes, out).Run();
}

}  // namespace tos
