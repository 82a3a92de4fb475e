// tf.train.Example, byte-compatible with TensorFlow's (tensorflow/core/example/example.proto
// and feature.proto): named features, each a list of int64s, floats or byte strings. What a
// TFRecord file written by tf.io.TFRecordWriter from tf.train.Example protos holds per record.
//
//   tos::Example e;
//   e.SetInt64s("label", {3});
//   e.SetFloats("x", {0.5f, 1.5f});
//   e.SetBytes("id", {"row-17"});
//   std::string record = e.Serialize();
//   auto back = tos::Example::Parse(record);           // DataLoss naming the offset on garbage
//   auto x = back->Floats("x");                        // an error names a missing feature
//
// Parse accepts what any protobuf writer produces: packed and unpacked lists, fields in any
// order, unknown fields (skipped), a feature key given twice (the last wins), a list given
// twice in one feature (merged, as protobuf merges it). Serialize writes packed lists with
// features in name order, so equal Examples give equal bytes.
// Spec: docs/formats.md#tftrainexample-any-features.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

class Example {
 public:
  enum class Kind { kNone, kInt64, kFloat, kBytes };  // kNone: a feature with no list set
  struct Feature {
    Kind kind = Kind::kNone;
    std::vector<int64_t> int64s;
    std::vector<float> floats;
    std::vector<std::string> bytes;
  };

  // Decodes a serialized tf.train.Example. DataLoss ("tf.train.Example: offset 12: ...") for
  // bytes that are not one; nothing is allocated beyond what the input's size allows.
  static Result<Example> Parse(std::string_view serialized);
  std::string Serialize() const;

  void SetInt64s(const std::string& name, std::vector<int64_t> values);
  void SetFloats(const std::string& name, std::vector<float> values);
  void SetBytes(const std::string& name, std::vector<std::string> values);

  // The feature's values: NotFound when there is no such feature, InvalidArgument when it
  // holds another kind of list (both name the feature and what it holds).
  Result<const std::vector<int64_t>*> Int64s(const std::string& name) const;
  Result<const std::vector<float>*> Floats(const std::string& name) const;
  Result<const std::vector<std::string>*> Bytes(const std::string& name) const;

  const Feature* Find(const std::string& name) const;
  const std::map<std::string, Feature>& features() const { return features_; }
  bool operator==(const Example& other) const;

 private:
  Result<const Feature*> Get(const std::string& name, Kind want) const;
  std::map<std::string, Feature> features_;
};

const char* ExampleKindName(
    Example::Kind kind);  // "int64_list", "float_list", "bytes_list", "no list"

}  // namespace tos
