// tf.train.Example encoding/decoding of MNIST records, against bytes built by hand from the
// protobuf wire format and against bytes serialized by Google's protobuf library.
#include <gtest/gtest.h>

#include <cstring>

#include "mnist_dataset.h"
#include "test_util.h"
#include "tos/tfrecord.h"

namespace tos {
namespace {

// ---- a tiny protobuf writer, independent of the code under test ----
std::string Varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
  return s;
}
std::string Bytes(int field, const std::string& body) {
  return Varint(static_cast<uint64_t>(field) << 3 | 2) + Varint(body.size()) + body;
}
std::string VarintField(int field, uint64_t v) {
  return Varint(static_cast<uint64_t>(field) << 3) + Varint(v);
}
std::string Packed(const std::vector<int64_t>& values) {
  std::string body;
  for (int64_t v : values) body += Varint(static_cast<uint64_t>(v));
  return Bytes(1, body);
}
std::string Unpacked(const std::vector<int64_t>& values) {
  std::string s;
  for (int64_t v : values) s += VarintField(1, static_cast<uint64_t>(v));
  return s;
}
std::string Int64Feature(const std::string& list_body) { return Bytes(3, list_body); }
std::string Entry(const std::string& key, const std::string& feature) {
  return Bytes(1, Bytes(1, key) + Bytes(2, feature));
}
std::string MakeExample(const std::string& entries) { return Bytes(1, entries); }

std::vector<int64_t> PixelPattern() {
  std::vector<int64_t> v(kMnistPixels);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i % 256);
  return v;
}
std::vector<int64_t> OneHot(int k) {
  std::vector<int64_t> v(10, 0);
  v[k] = 1;
  return v;
}

void FillRecord(uint8_t* rec, int label) {
  rec[0] = static_cast<uint8_t>(label);
  for (size_t i = 0; i < kMnistPixels; ++i) rec[1 + i] = static_cast<uint8_t>(i % 256);
}

// Serialized with Google's protobuf (Python, deterministic) for pixels i % 256, label one-hot 3.
constexpr size_t kGoldenLength = 1215;
constexpr uint32_t kGoldenCrc32c = 0xda8f1008u;
const char kGoldenPrefix[] =
    "\x0a\xbc\x09\x0a\xa0\x09\x0a\x05image\x12\x96\x09\x1a\x93\x09\x0a\x90\x09\x00\x01\x02";

TEST(ExampleTest, EncodingMatchesProtobufLibraryBytes) {
  uint8_t rec[kMnistRecordBytes];
  FillRecord(rec, 3);
  std::string out;
  AppendMnistExample(rec, &out);
  ASSERT_EQ(out.size(), kGoldenLength);
  EXPECT_EQ(out.substr(0, sizeof(kGoldenPrefix) - 1),
            std::string(kGoldenPrefix, sizeof(kGoldenPrefix) - 1));
  EXPECT_EQ(Crc32c(out.data(), out.size()), kGoldenCrc32c);
  // And the hand-built equivalent is byte-identical.
  std::string hand = MakeExample(Entry("image", Int64Feature(Packed(PixelPattern()))) +
                                 Entry("label", Int64Feature(Packed(OneHot(3)))));
  EXPECT_TRUE(hand == out);
}

TEST(ExampleTest, RoundTripEveryLabelAndPixelValue) {
  for (int label = 0; label < 10; ++label) {
    uint8_t rec[kMnistRecordBytes], back[kMnistRecordBytes];
    rec[0] = static_cast<uint8_t>(label);
    for (size_t i = 0; i < kMnistPixels; ++i) rec[1 + i] = static_cast<uint8_t>(i * 7 + label);
    std::string ex;
    AppendMnistExample(rec, &ex);
    TOS_ASSERT_OK(DecodeMnistExample(ex, back));
    EXPECT_EQ(std::memcmp(rec, back, kMnistRecordBytes), 0);
  }
}

TEST(ExampleTest, UnpackedListsSingleIntLabelAndEntryFieldsInAnyOrder) {
  // Map entry with the value before the key, an extra feature, an unknown Example field.
  std::string image_entry =
      Bytes(1, Bytes(2, Int64Feature(Unpacked(PixelPattern()))) + Bytes(1, "image"));
  std::string ex =
      VarintField(7, 42) + MakeExample(Entry("extra", Bytes(1, Bytes(1, "blob"))) + image_entry +
                                       Entry("label", Int64Feature(Unpacked({7}))));
  uint8_t out[kMnistRecordBytes];
  TOS_ASSERT_OK(DecodeMnistExample(ex, out));
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(out[1 + 255], 255);
  EXPECT_EQ(out[1 + 256], 0);
}

TEST(ExampleTest, ValuesSplitAcrossPackedAndUnpackedRunsConcatenate) {
  std::vector<int64_t> px = PixelPattern();
  std::vector<int64_t> a(px.begin(), px.begin() + 100), b(px.begin() + 100, px.end());
  std::string ex = MakeExample(Entry("image", Int64Feature(Unpacked(a) + Packed(b))) +
                               Entry("label", Int64Feature(Packed(OneHot(9)))));
  uint8_t out[kMnistRecordBytes];
  TOS_ASSERT_OK(DecodeMnistExample(ex, out));
  EXPECT_EQ(out[0], 9);
  EXPECT_EQ(out[1 + 783], 783 % 256);
}

Status DecodeOf(const std::string& ex) {
  uint8_t out[kMnistRecordBytes];
  return DecodeMnistExample(ex, out);
}

void ExpectError(const std::string& ex, const std::string& needle) {
  Status s = DecodeOf(ex);
  ASSERT_FALSE(s.ok()) << "expected: " << needle;
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString();
}

TEST(ExampleTest, MissingImageFeature) {
  ExpectError(MakeExample(Entry("label", Int64Feature(Packed(OneHot(1))))), "no 'image' feature");
}

TEST(ExampleTest, MissingLabelFeature) {
  ExpectError(MakeExample(Entry("image", Int64Feature(Packed(PixelPattern())))),
              "no 'label' feature");
}

TEST(ExampleTest, EmptyBytesHaveNoFeatures) { ExpectError("", "no 'image' feature"); }

TEST(ExampleTest, TooFewAndTooManyPixels) {
  std::vector<int64_t> px = PixelPattern();
  std::vector<int64_t> short_px(px.begin(), px.end() - 1), long_px = px;
  long_px.push_back(0);
  std::string label = Entry("label", Int64Feature(Packed(OneHot(1))));
  ExpectError(MakeExample(Entry("image", Int64Feature(Packed(short_px))) + label),
              "'image' has 783 values, expected 784");
  ExpectError(MakeExample(Entry("image", Int64Feature(Packed(long_px))) + label),
              "'image' has 785 values");
}

TEST(ExampleTest, PixelOutOfRange) {
  std::vector<int64_t> px = PixelPattern();
  std::string label = Entry("label", Int64Feature(Packed(OneHot(1))));
  px[10] = 256;
  ExpectError(MakeExample(Entry("image", Int64Feature(Packed(px))) + label),
              "'image' value 11 is 256, expected 0..255");
  px[10] = -1;  // ten-byte varint
  ExpectError(MakeExample(Entry("image", Int64Feature(Packed(px))) + label),
              "'image' value 11 is -1");
  px[10] = 70000;  // three-byte varint
  ExpectError(MakeExample(Entry("image", Int64Feature(Unpacked(px))) + label), "value 11 is 70000");
}

TEST(ExampleTest, LabelNotOneHot) {
  std::string image = Entry("image", Int64Feature(Packed(PixelPattern())));
  std::vector<int64_t> two = OneHot(1);
  two[4] = 1;
  ExpectError(MakeExample(image + Entry("label", Int64Feature(Packed(two)))), "not one-hot");
  ExpectError(MakeExample(image + Entry("label", Int64Feature(Packed(std::vector<int64_t>(10))))),
              "all zeros");
  ExpectError(MakeExample(image + Entry("label", Int64Feature(Packed({1, 0, 0})))),
              "'label' has 3 values");
  ExpectError(MakeExample(image + Entry("label", Int64Feature(Packed({12})))),
              "'label' is 12, expected a class 0..9");
}

TEST(ExampleTest, FeatureOfTheWrongKind) {
  std::string float_list = Bytes(2, Bytes(1, std::string(8, '\0')));
  ExpectError(
      MakeExample(Entry("image", float_list) + Entry("label", Int64Feature(Packed(OneHot(1))))),
      "'image' is a float_list, expected an int64_list");
}

TEST(ExampleTest, MalformedProtobufNamesTheByte) {
  uint8_t rec[kMnistRecordBytes];
  FillRecord(rec, 2);
  std::string ex;
  AppendMnistExample(rec, &ex);
  ExpectError(ex.substr(0, ex.size() - 5), "malformed Example protobuf at byte 1");
  std::string bad_wire = ex;
  bad_wire[0] = 0x0b;  // field 1, wire type 3 (group): unsupported
  ExpectError(bad_wire, "unsupported wire type 3");
}

TEST(ExampleTest, EveryTruncationIsAnErrorNotACrash) {
  uint8_t rec[kMnistRecordBytes];
  FillRecord(rec, 5);
  std::string ex;
  AppendMnistExample(rec, &ex);
  for (size_t n = 0; n < ex.size(); ++n) EXPECT_FALSE(DecodeOf(ex.substr(0, n)).ok()) << n;
}

}  // namespace
}  // namespace tos
