// tf.train.Example (include/tos/example.h): round trips, typed access, malformed input, and
// compatibility with protoc's own encoder and decoder (tests/formats/data/tf_example.proto).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "test_util.h"
#include "tos/example.h"

namespace tos {
namespace {

// Hand-made wire bytes: a Features map entry whose Feature holds `list` in field list_field
// (1 bytes_list, 2 float_list, 3 int64_list), and an Example around entries.
std::string LengthDelimited(char tag, const std::string& body) {
  return std::string(1, tag) + static_cast<char>(body.size()) + body;
}
std::string Entry(const std::string& key, int list_field, const std::string& list) {
  std::string feature = LengthDelimited(static_cast<char>(list_field << 3 | 2), list);
  return LengthDelimited('\x0a', LengthDelimited('\x0a', key) + LengthDelimited('\x12', feature));
}
std::string Wrap(const std::string& features) { return LengthDelimited('\x0a', features); }

const std::string kProtoDir = std::string(TOS_SOURCE_DIR) + "/tests/formats/data";

Example Sample() {
  Example e;
  e.SetInt64s("label", {3, -1, int64_t{1} << 40});
  e.SetFloats("x", {0.5f, -1.25f, 3e38f});
  e.SetBytes("id", {"row-17", std::string("\0\xff", 2), ""});
  e.SetFloats("empty", {});
  return e;
}

TEST(TfExampleTest, RoundTripKeepsEveryFeature) {
  Example e = Sample();
  auto back = Example::Parse(e.Serialize());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == e);
  EXPECT_EQ(**back->Int64s("label"), (std::vector<int64_t>{3, -1, int64_t{1} << 40}));
  EXPECT_EQ(**back->Floats("x"), (std::vector<float>{0.5f, -1.25f, 3e38f}));
  EXPECT_EQ((**back->Bytes("id"))[1], std::string("\0\xff", 2));
  EXPECT_TRUE((*back->Floats("empty"))->empty());
  EXPECT_EQ(Example::Parse("")->features().size(), 0u);
}

TEST(TfExampleTest, SerializeIsDeterministic) {
  Example a, b;
  a.SetInt64s("b", {1});
  a.SetInt64s("a", {2});
  b.SetInt64s("a", {2});
  b.SetInt64s("b", {1});
  EXPECT_EQ(a.Serialize(), b.Serialize());
}

TEST(TfExampleTest, TypedAccessNamesTheFeature) {
  Example e = Sample();
  auto missing = e.Floats("y");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no feature 'y' (it has: empty, id, label, x)"),
            std::string::npos)
      << missing.status().message();
  auto wrong = e.Floats("label");
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("feature 'label' is a int64_list, not a float_list"),
            std::string::npos)
      << wrong.status().message();
}

// What protoc makes from text is what Parse reads.
TEST(TfExampleTest, ReadsWhatProtocEncodes) {
  testing::TempDir dir;
  testing::WriteAll(dir / "in.txt", R"(features {
  feature { key: "label" value { int64_list { value: [7, -2] } } }
  feature { key: "x" value { float_list { value: [0.25, 2.5] } } }
  feature { key: "id" value { bytes_list { value: ["ab", "c"] } } }
})");
  auto r = testing::RunCommand("protoc -I" + kProtoDir +
                               " --encode=tensorflow.Example tf_example.proto < " + dir / "in.txt" +
                               " > " + dir / "out.bin");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto e = Example::Parse(testing::ReadAll(dir / "out.bin"));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(**e->Int64s("label"), (std::vector<int64_t>{7, -2}));
  EXPECT_EQ(**e->Floats("x"), (std::vector<float>{0.25f, 2.5f}));
  EXPECT_EQ(**e->Bytes("id"), (std::vector<std::string>{"ab", "c"}));
}

// What Serialize writes, protoc decodes to the same values.
TEST(TfExampleTest, ProtocDecodesWhatSerializeWrites) {
  testing::TempDir dir;
  Example e;
  e.SetInt64s("label", {7, -2});
  e.SetFloats("x", {0.25f});
  e.SetBytes("id", {"ab"});
  testing::WriteAll(dir / "e.bin", e.Serialize());
  auto r = testing::RunCommand("protoc -I" + kProtoDir +
                               " --decode=tensorflow.Example tf_example.proto < " + dir / "e.bin");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("key: \"label\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("value: 7"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("value: -2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("value: 0.25"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("value: \"ab\""), std::string::npos) << r.output;
}

// Unpacked lists, unknown fields and a feature given twice, as other writers may produce.
TEST(TfExampleTest, UnpackedListsUnknownFieldsAndRepeatedKeys) {
  std::string int64_list = std::string("\x08\x05\x08\x7f", 4);      // unpacked 5, 127
  std::string float_list = std::string("\x0d\x00\x00\x80\x3f", 5);  // unpacked 1.0f
  std::string features = Entry("n", 3, "\x08\x01") + Entry("n", 3, int64_list) +
                         Entry("f", 2, float_list) +
                         std::string("\x10\x2a", 2);  // field 2 (unknown): varint 42
  std::string example = Wrap(features) + "\x18\x01";  // and an unknown field of Example
  auto e = Example::Parse(example);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(**e->Int64s("n"), (std::vector<int64_t>{5, 127}));  // the second "n" wins
  EXPECT_EQ(**e->Floats("f"), (std::vector<float>{1.0f}));
}

// A list message given twice in one Feature is merged (its values appended), as protobuf
// merges a message field given twice; a list of another kind replaces what came before.
TEST(TfExampleTest, AListGivenTwiceIsMergedAnotherKindReplacesIt) {
  const std::string one = std::string("\x0a\x04\x00\x00\x80\x3f", 6);  // packed 1.0f
  const std::string two = std::string("\x0a\x04\x00\x00\x00\x40", 6);  // packed 2.0f
  const std::string float_list_twice = LengthDelimited('\x12', one) + LengthDelimited('\x12', two);
  const std::string bytes_then_float =
      LengthDelimited('\x0a', LengthDelimited('\x0a', "ab")) + LengthDelimited('\x12', one);
  auto entry = [](const std::string& key, const std::string& feature) {
    return LengthDelimited('\x0a', LengthDelimited('\x0a', key) + LengthDelimited('\x12', feature));
  };
  // The map entry's value given twice: merged too.
  const std::string value_twice = LengthDelimited(
      '\x0a', LengthDelimited('\x0a', "v") + LengthDelimited('\x12', LengthDelimited('\x12', one)) +
                  LengthDelimited('\x12', LengthDelimited('\x12', two)));
  auto e = Example::Parse(
      Wrap(entry("f", float_list_twice) + entry("k", bytes_then_float) + value_twice));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(**e->Floats("f"), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(**e->Floats("k"), (std::vector<float>{1.0f}));
  EXPECT_EQ(**e->Floats("v"), (std::vector<float>{1.0f, 2.0f}));
}

TEST(TfExampleTest, MalformedInputIsDataLossWithTheOffset) {
  std::string good = Sample().Serialize();
  for (size_t cut : {size_t{1}, good.size() / 2, good.size() - 1}) {
    auto e = Example::Parse(good.substr(0, cut));
    EXPECT_EQ(e.status().code(), StatusCode::kDataLoss) << cut;
    EXPECT_NE(e.status().message().find("tf.train.Example: offset "), std::string::npos)
        << e.status().message();
  }
  // A packed float list of 3 bytes.
  auto f = Example::Parse(Wrap(Entry("x", 2, LengthDelimited('\x0a', std::string(3, '\0')))));
  EXPECT_EQ(f.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(f.status().message().find("not a multiple of 4"), std::string::npos)
      << f.status().message();
  // An empty packed run is an empty list (found by tf_example_fuzz: memcpy of nothing).
  auto empty = Example::Parse(Wrap(Entry("x", 2, LengthDelimited('\x0a', ""))));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE((*empty->Floats("x"))->empty());
  // A length far past the end, and a group wire type.
  EXPECT_NE(Example::Parse("\x0a\xff\xff\xff\x0f").status().message().find("remain"),
            std::string::npos);
  EXPECT_NE(Example::Parse("\x0b").status().message().find("wire type 3"), std::string::npos);
}

}  // namespace
}  // namespace tos
