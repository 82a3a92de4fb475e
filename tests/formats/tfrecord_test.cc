#include "tos/tfrecord.h"

#include <gtest/gtest.h>

#include "io/memory_fs.h"
#include "test_util.h"

namespace tos {
namespace {

using testing::TempDir;

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

Status WriteRecords(const std::string& path, const std::vector<std::string>& records,
                    Compression c = Compression::kNone) {
  TOS_ASSIGN_OR_RETURN(auto w, TfRecordWriter::Create(path, c));
  for (const auto& r : records) TOS_RETURN_IF_ERROR(w->Write(r));
  return w->Close();
}

// Reads until end or error; returns the error (OK at clean end).
Status ReadRecords(const std::string& path, std::vector<std::string>* out,
                   Compression c = Compression::kNone) {
  TOS_ASSIGN_OR_RETURN(auto r, TfRecordReader::Open(path, c));
  std::string rec;
  for (;;) {
    TOS_ASSIGN_OR_RETURN(bool more, r->Next(&rec));
    if (!more) return Status::OK();
    out->push_back(rec);
  }
}

// Bytes written by TensorBoard's pure-Python RecordWriter for records "hello" and "".
const char kGoldenHelloAndEmpty[] =
    "0500000000000000eab2043e68656c6c6fbb1f1c19"
    "000000000000000029039807d8ea82a2";

TEST(TfRecordTest, GoldenFramingMatchesTensorFlow) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "g.tfrecord", {"hello", ""}));
  EXPECT_EQ(Hex(testing::ReadAll(tmp / "g.tfrecord")), kGoldenHelloAndEmpty);
  std::vector<std::string> back;
  TOS_ASSERT_OK(ReadRecords(tmp / "g.tfrecord", &back));
  EXPECT_EQ(back, (std::vector<std::string>{"hello", ""}));
}

TEST(TfRecordTest, RoundTripSmallEmptyAndLargerThanTheBuffer) {
  TempDir tmp;
  std::vector<std::string> records = {"a", "", std::string(3 << 20, 'x'), "tail"};
  for (int i = 0; i < 1000; ++i) records.push_back(std::string(i % 97, static_cast<char>(i)));
  TOS_ASSERT_OK(WriteRecords(tmp / "r.tfrecord", records));
  std::vector<std::string> back;
  TOS_ASSERT_OK(ReadRecords(tmp / "r.tfrecord", &back));
  EXPECT_TRUE(back == records);
}

TEST(TfRecordTest, GzipRoundTripAndTheFileIsGzip) {
  TempDir tmp;
  std::vector<std::string> records;
  for (int i = 0; i < 500; ++i) records.push_back("record number " + std::to_string(i));
  TOS_ASSERT_OK(WriteRecords(tmp / "z.tfrecord.gz", records, Compression::kGzip));
  EXPECT_TRUE(LooksGzipped(testing::ReadAll(tmp / "z.tfrecord.gz")));
  std::vector<std::string> back;
  TOS_ASSERT_OK(ReadRecords(tmp / "z.tfrecord.gz", &back, Compression::kGzip));
  EXPECT_EQ(back, records);
}

TEST(TfRecordTest, EmptyFileHasNoRecords) {
  TempDir tmp;
  testing::WriteAll(tmp / "e", "");
  std::vector<std::string> back;
  TOS_ASSERT_OK(ReadRecords(tmp / "e", &back));
  EXPECT_TRUE(back.empty());
}

TEST(TfRecordTest, OffsetAdvancesByFramedLength) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "o", {"abc", "defgh"}));
  TOS_ASSERT_OK_AND_ASSIGN(auto r, TfRecordReader::Open(tmp / "o"));
  std::string rec;
  EXPECT_EQ(r->offset(), 0u);
  TOS_ASSERT_OK_AND_ASSIGN(bool more, r->Next(&rec));
  EXPECT_TRUE(more);
  EXPECT_EQ(r->offset(), 16u + 3);
  TOS_ASSERT_OK_AND_ASSIGN(more, r->Next(&rec));
  EXPECT_EQ(r->offset(), 16u + 3 + 16 + 5);
  TOS_ASSERT_OK_AND_ASSIGN(more, r->Next(&rec));
  EXPECT_FALSE(more);
}

// Flips one byte at `at` and returns the reader's error.
Status ErrorAfterFlip(const std::string& path, size_t at) {
  std::string data = testing::ReadAll(path);
  data[at] = static_cast<char>(data[at] ^ 0x01);
  testing::WriteAll(path + ".bad", data);
  std::vector<std::string> back;
  return ReadRecords(path + ".bad", &back);
}

TEST(TfRecordTest, FlippedDataByteIsCrcMismatchAtTheRecordOffset) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "f", {"first", "second record"}));
  Status s = ErrorAfterFlip(tmp / "f", 21 + 12 + 3);  // inside the second record's data
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("f.bad"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("byte 21"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("data CRC mismatch"), std::string::npos) << s.ToString();
}

TEST(TfRecordTest, FlippedLengthByteIsLengthCrcMismatch) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "f", {"first", "second"}));
  Status s = ErrorAfterFlip(tmp / "f", 21 + 1);
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("byte 21: length CRC mismatch"), std::string::npos) << s.ToString();
}

TEST(TfRecordTest, FlippedCrcByteIsDetected) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "f", {"first"}));
  EXPECT_EQ(ErrorAfterFlip(tmp / "f", 9).code(), StatusCode::kDataLoss);           // length CRC
  EXPECT_EQ(ErrorAfterFlip(tmp / "f", 12 + 5 + 2).code(), StatusCode::kDataLoss);  // data CRC
}

TEST(TfRecordTest, EveryTruncationIsDataLossNamingTheOffset) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "t", {"0123456789", "abcdefghij"}));
  std::string full = testing::ReadAll(tmp / "t");
  ASSERT_EQ(full.size(), 52u);
  for (size_t cut = 27; cut < full.size(); ++cut) {  // every cut inside the second record
    testing::WriteAll(tmp / "cut", full.substr(0, cut));
    std::vector<std::string> back;
    Status s = ReadRecords(tmp / "cut", &back);
    ASSERT_EQ(s.code(), StatusCode::kDataLoss) << "cut at " << cut;
    EXPECT_NE(s.message().find("truncated record at byte 26"), std::string::npos) << s.ToString();
    EXPECT_EQ(back.size(), 1u);  // the whole first record was still delivered
  }
}

TEST(TfRecordTest, TruncatedGzipTfRecordIsDataLoss) {
  TempDir tmp;
  std::vector<std::string> records(2000, std::string(100, 'q'));
  for (size_t i = 0; i < records.size(); ++i) records[i] += std::to_string(i * i);
  TOS_ASSERT_OK(WriteRecords(tmp / "z", records, Compression::kGzip));
  std::string gz = testing::ReadAll(tmp / "z");
  testing::WriteAll(tmp / "z", gz.substr(0, gz.size() - 20));
  std::vector<std::string> back;
  Status s = ReadRecords(tmp / "z", &back, Compression::kGzip);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
}

TEST(TfRecordTest, NextViewSurvivesUntilTheNextCall) {
  TempDir tmp;
  TOS_ASSERT_OK(WriteRecords(tmp / "v", {"alpha", "beta"}));
  TOS_ASSERT_OK_AND_ASSIGN(auto r, TfRecordReader::Open(tmp / "v"));
  std::string_view v;
  TOS_ASSERT_OK_AND_ASSIGN(bool more, r->NextView(&v));
  ASSERT_TRUE(more);
  EXPECT_EQ(v, "alpha");
  TOS_ASSERT_OK_AND_ASSIGN(more, r->NextView(&v));
  EXPECT_EQ(v, "beta");
}

TEST(TfRecordTest, WorksOnAnyRegisteredFileSystem) {
  RegisterFileSystem("tfrmem", std::make_shared<MemoryFileSystem>());
  TOS_ASSERT_OK(WriteRecords("tfrmem://x.tfrecord", {"m1", "m2"}, Compression::kGzip));
  std::vector<std::string> back;
  TOS_ASSERT_OK(ReadRecords("tfrmem://x.tfrecord", &back, Compression::kGzip));
  EXPECT_EQ(back, (std::vector<std::string>{"m1", "m2"}));
}

TEST(TfRecordTest, WriteAfterCloseIsAnError) {
  TempDir tmp;
  TOS_ASSERT_OK_AND_ASSIGN(auto w, TfRecordWriter::Create(tmp / "c"));
  TOS_ASSERT_OK(w->Write("x"));
  TOS_ASSERT_OK(w->Close());
  TOS_EXPECT_OK(w->Close());
  EXPECT_FALSE(w->Write("y").ok());
  EXPECT_EQ(w->records_written(), 1u);
  EXPECT_EQ(w->bytes_written(), 17u);
}

}  // namespace
}  // namespace tos
