#include "idx.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace tos {
namespace {

using testing::TempDir;

IdxArray Images(uint32_t n) {
  IdxArray a;
  a.dims = {n, 28, 28};
  a.data.resize(size_t{n} * 784);
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i * 13 + i / 784);
  return a;
}

IdxArray Labels(uint32_t n) {
  IdxArray a;
  a.dims = {n};
  for (uint32_t i = 0; i < n; ++i) a.data.push_back(static_cast<uint8_t>(i % 10));
  return a;
}

TEST(IdxTest, RawAndGzipRoundTrip) {
  TempDir tmp;
  IdxArray in = Images(5);
  for (Compression c : {Compression::kNone, Compression::kGzip}) {
    TOS_ASSERT_OK(WriteIdx(tmp / "img", in, c));
    TOS_ASSERT_OK_AND_ASSIGN(IdxArray out, ReadIdx(tmp / "img"));
    EXPECT_EQ(out.type, kIdxTypeUint8);
    EXPECT_EQ(out.dims, in.dims);
    EXPECT_TRUE(out.data == in.data);
  }
}

TEST(IdxTest, HeaderBytesAreBigEndianMagicThenDims) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "l", Labels(258)));
  std::string raw = testing::ReadAll(tmp / "l");
  ASSERT_EQ(raw.size(), 8u + 258);
  EXPECT_EQ(raw.substr(0, 8), std::string("\x00\x00\x08\x01\x00\x00\x01\x02", 8));
}

TEST(IdxTest, MnistPairReadsImagesAndLabels) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "i.gz", Images(7), Compression::kGzip));
  TOS_ASSERT_OK(WriteIdx(tmp / "l", Labels(7)));
  TOS_ASSERT_OK_AND_ASSIGN(MnistArrays m, ReadMnistIdx(tmp / "i.gz", tmp / "l"));
  EXPECT_EQ(m.n, 7u);
  EXPECT_EQ(m.images.size(), 7u * 784);
  EXPECT_EQ(m.labels[3], 3);
}

TEST(IdxTest, WrongMagicIsDataLossAtByteZero) {
  TempDir tmp;
  testing::WriteAll(tmp / "bad", std::string("\x12\x34\x08\x03", 4) + std::string(100, '\0'));
  auto r = ReadIdx(tmp / "bad");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("bad: byte 0: wrong IDX magic 0x12340803"), std::string::npos)
      << r.status().ToString();
}

TEST(IdxTest, LabelsFileGivenAsImagesIsWrongMagic) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "l", Labels(3)));
  auto r = ReadMnistIdx(tmp / "l", tmp / "l");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("wrong IDX magic 0x00000801 for MNIST images"),
            std::string::npos)
      << r.status().ToString();
}

TEST(IdxTest, ImagesThatAreNot28x28AreRefused) {
  TempDir tmp;
  IdxArray a;
  a.dims = {2, 32, 32};
  a.data.resize(2 * 32 * 32);
  TOS_ASSERT_OK(WriteIdx(tmp / "i", a));
  TOS_ASSERT_OK(WriteIdx(tmp / "l", Labels(2)));
  auto r = ReadMnistIdx(tmp / "i", tmp / "l");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("32x32, expected 28x28"), std::string::npos);
}

TEST(IdxTest, TruncatedRawFileIsRefusedBySize) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "i", Images(3)));
  std::string raw = testing::ReadAll(tmp / "i");
  testing::WriteAll(tmp / "i", raw.substr(0, raw.size() - 1));
  auto r = ReadIdx(tmp / "i");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("declares dimensions 3x28x28"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("the file is 2367 bytes (truncated)"), std::string::npos)
      << r.status().ToString();
}

TEST(IdxTest, TrailingBytesAreRefused) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "l", Labels(3)));
  testing::WriteAll(tmp / "l", testing::ReadAll(tmp / "l") + "x");
  EXPECT_NE(ReadIdx(tmp / "l").status().message().find("trailing bytes"), std::string::npos);
}

TEST(IdxTest, GzipWithFewerBytesThanTheHeaderPromisesIsTruncated) {
  TempDir tmp;
  IdxArray a = Labels(10);
  a.dims = {20};  // header promises 20, 10 follow
  std::string header("\x00\x00\x08\x01\x00\x00\x00\x14", 8);
  TOS_ASSERT_OK_AND_ASSIGN(auto w, OpenOutputFile(tmp / "l.gz", Compression::kGzip));
  TOS_ASSERT_OK(w->Append(header + std::string(10, '\1')));
  TOS_ASSERT_OK(w->Close());
  auto r = ReadIdx(tmp / "l.gz");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated IDX data"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("ends at byte 18"), std::string::npos)
      << r.status().ToString();
}

TEST(IdxTest, TruncatedGzipIsDataLossNamingTheFile) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "i.gz", Images(50), Compression::kGzip));
  std::string gz = testing::ReadAll(tmp / "i.gz");
  testing::WriteAll(tmp / "i.gz", gz.substr(0, gz.size() * 2 / 3));
  auto r = ReadIdx(tmp / "i.gz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("i.gz: truncated gzip stream"), std::string::npos)
      << r.status().ToString();
}

TEST(IdxTest, ImageLabelCountMismatchNamesBothFiles) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteIdx(tmp / "imgs", Images(4)));
  TOS_ASSERT_OK(WriteIdx(tmp / "labs", Labels(3)));
  auto r = ReadMnistIdx(tmp / "imgs", tmp / "labs");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("image/label count mismatch"), std::string::npos);
  EXPECT_NE(r.status().message().find("imgs holds 4 images"), std::string::npos);
  EXPECT_NE(r.status().message().find("labs holds 3 labels"), std::string::npos);
}

TEST(IdxTest, LabelOutOfRangeNamesItsByte) {
  TempDir tmp;
  IdxArray l = Labels(5);
  l.data[2] = 10;
  TOS_ASSERT_OK(WriteIdx(tmp / "i", Images(5)));
  TOS_ASSERT_OK(WriteIdx(tmp / "l", l));
  auto r = ReadMnistIdx(tmp / "i", tmp / "l");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("byte 10: label 10 of item 2"), std::string::npos)
      << r.status().ToString();
}

TEST(IdxTest, EmptyAndTinyFilesAreTruncatedHeaders) {
  TempDir tmp;
  testing::WriteAll(tmp / "e", "");
  EXPECT_EQ(ReadIdx(tmp / "e").status().code(), StatusCode::kDataLoss);
  testing::WriteAll(tmp / "t", std::string("\0\0\x08\x03\0\0", 6));
  EXPECT_NE(ReadIdx(tmp / "t").status().message().find("truncated IDX header"), std::string::npos);
}

TEST(IdxTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadIdx("/nonexistent/x-idx3-ubyte").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tos
