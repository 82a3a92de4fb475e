// csv (images line + one-hot label line) and csv2 ("label|pixels") record encodings.
#include <gtest/gtest.h>

#include <cstring>

#include "mnist_dataset.h"
#include "test_util.h"

namespace tos {
namespace {

void MakeRecord(uint8_t* rec, int label, int seed) {
  rec[0] = static_cast<uint8_t>(label);
  for (size_t i = 0; i < kMnistPixels; ++i) rec[1 + i] = static_cast<uint8_t>(i * 11 + seed);
}

std::string Pixels(size_t n, const std::string& value = "0") {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "," : "") + value;
  return s;
}

TEST(MnistCsvTest, ImageLineIsCommaSeparatedInts) {
  uint8_t rec[kMnistRecordBytes] = {};
  rec[1] = 255;
  rec[2] = 10;
  rec[784] = 7;
  std::string line;
  AppendMnistCsvImageLine(rec, &line);
  EXPECT_EQ(line.substr(0, 11), "255,10,0,0,");
  EXPECT_EQ(line.substr(line.size() - 5), ",0,7\n");
  EXPECT_EQ(std::count(line.begin(), line.end(), ','), 783);
}

TEST(MnistCsvTest, LabelLineIsOneHotFloats) {
  uint8_t rec[kMnistRecordBytes] = {};
  rec[0] = 2;
  std::string line;
  AppendMnistCsvLabelLine(rec, &line);
  EXPECT_EQ(line, "0.0,0.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n");
}

TEST(MnistCsvTest, Csv2LineIsLabelBarPixels) {
  uint8_t rec[kMnistRecordBytes] = {};
  rec[0] = 8;
  rec[1] = 100;
  std::string line;
  AppendMnistCsv2Line(rec, &line);
  EXPECT_EQ(line.substr(0, 8), "8|100,0,");
}

TEST(MnistCsvTest, RoundTripEveryPixelValueBothForms) {
  for (int label = 0; label < 10; ++label) {
    uint8_t rec[kMnistRecordBytes], back[kMnistRecordBytes];
    MakeRecord(rec, label, label * 29);
    std::string img, lab, two;
    AppendMnistCsvImageLine(rec, &img);
    AppendMnistCsvLabelLine(rec, &lab);
    AppendMnistCsv2Line(rec, &two);
    img.pop_back();
    lab.pop_back();
    two.pop_back();
    TOS_ASSERT_OK(DecodeMnistCsvPair(img, lab, back));
    EXPECT_EQ(std::memcmp(rec, back, kMnistRecordBytes), 0);
    std::memset(back, 0, sizeof(back));
    TOS_ASSERT_OK(DecodeMnistCsv2Line(two, back));
    EXPECT_EQ(std::memcmp(rec, back, kMnistRecordBytes), 0);
  }
}

TEST(MnistCsvTest, LabelsWrittenAsIntsOrClassIndexAreAccepted) {
  uint8_t out[kMnistRecordBytes];
  TOS_ASSERT_OK(DecodeMnistCsvPair(Pixels(784), "0,0,0,0,0,0,1,0,0,0", out));
  EXPECT_EQ(out[0], 6);
  TOS_ASSERT_OK(DecodeMnistCsvPair(Pixels(784), "0.0,1e0,0,0,0,0,0,0,0,0.00", out));
  EXPECT_EQ(out[0], 1);
  TOS_ASSERT_OK(DecodeMnistCsvPair(Pixels(784), "4", out));
  EXPECT_EQ(out[0], 4);
}

void ExpectPairError(const std::string& image, const std::string& label,
                     const std::string& needle) {
  uint8_t out[kMnistRecordBytes];
  Status s = DecodeMnistCsvPair(image, label, out);
  ASSERT_FALSE(s.ok()) << needle;
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString();
}

const char kOneHot3[] = "0.0,0.0,0.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0";

TEST(MnistCsvTest, RowWithTooFewValues) {
  ExpectPairError(Pixels(783), kOneHot3, "image has 783 values, expected 784");
  ExpectPairError("", kOneHot3, "image has 0 values");
}

TEST(MnistCsvTest, RowWithTooManyValues) {
  ExpectPairError(Pixels(785), kOneHot3, "image has more than 784 values");
}

TEST(MnistCsvTest, NonNumericTokenIsNamedWithItsPosition) {
  std::string img = Pixels(784);
  img.replace(4, 1, "x7");  // value 3 becomes "x7"
  ExpectPairError(img, kOneHot3, "image value 3 'x7' is not an integer in 0..255");
  ExpectPairError(Pixels(784, "12a"), kOneHot3, "image value 1 '12a'");
  ExpectPairError(Pixels(784, "-1"), kOneHot3, "image value 1 '-1'");
  ExpectPairError(Pixels(784, " 1"), kOneHot3, "image value 1 ' 1'");
  ExpectPairError(Pixels(783) + ",", kOneHot3, "image has 783 values");
  ExpectPairError(Pixels(784, "0.5"), kOneHot3, "image value 1 '0.5'");
}

TEST(MnistCsvTest, PixelAbove255) {
  ExpectPairError(Pixels(784, "256"), kOneHot3, "image value 1 '256' is not an integer in 0..255");
  ExpectPairError(Pixels(784, "1000"), kOneHot3, "'1000'");
}

TEST(MnistCsvTest, LabelLineErrors) {
  std::string img = Pixels(784);
  ExpectPairError(img, "0.0,1.0", "label has 2 values, expected 10");
  ExpectPairError(img, "0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0", "0 values equal to 1");
  ExpectPairError(img, "1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0", "2 values equal to 1");
  ExpectPairError(img, "0.5,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0", "is not 0 or 1");
  ExpectPairError(img, "0.0,abc,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0", "label value 2 'abc'");
  ExpectPairError(img, "", "label line is empty");
  ExpectPairError(img, "12", "neither one-hot nor a class 0..9");
}

TEST(MnistCsvTest, Csv2Errors) {
  uint8_t out[kMnistRecordBytes];
  Status s = DecodeMnistCsv2Line(Pixels(784), out);
  EXPECT_NE(s.message().find("no '|'"), std::string::npos) << s.ToString();
  s = DecodeMnistCsv2Line("10|" + Pixels(784), out);
  EXPECT_NE(s.message().find("csv2 label '10' is not an integer in 0..9"), std::string::npos)
      << s.ToString();
  s = DecodeMnistCsv2Line("3|" + Pixels(700), out);
  EXPECT_NE(s.message().find("image has 700 values"), std::string::npos) << s.ToString();
  TOS_EXPECT_OK(DecodeMnistCsv2Line("3|" + Pixels(784, "255"), out));
  EXPECT_EQ(out[0], 3);
  EXPECT_EQ(out[784], 255);
}

}  // namespace
}  // namespace tos
