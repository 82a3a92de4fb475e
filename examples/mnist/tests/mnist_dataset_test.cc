// Writing and reading whole MNIST datasets in every format, and each corruption a reader meets.
#include "mnist_dataset.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "io/memory_fs.h"
#include "test_util.h"
#include "tos/partitioned_dir.h"
#include "tos/tfrecord.h"

namespace tos {
namespace {

using testing::TempDir;

struct Data {
  size_t n;
  std::vector<uint8_t> images, labels;
  explicit Data(size_t count) : n(count), images(count * kMnistPixels), labels(count) {
    for (size_t r = 0; r < n; ++r) {
      labels[r] = static_cast<uint8_t>((r * 7) % 10);
      for (size_t p = 0; p < kMnistPixels; ++p) {
        images[r * kMnistPixels + p] = static_cast<uint8_t>((r * 131 + p * 17) ^ (p >> 3));
      }
    }
  }
  void Expect(size_t r, const uint8_t* rec) const {
    ASSERT_LT(r, n);
    EXPECT_EQ(rec[0], labels[r]) << "record " << r;
    EXPECT_EQ(std::memcmp(rec + 1, &images[r * kMnistPixels], kMnistPixels), 0) << "record " << r;
  }
};

struct Case {
  DataFormat format;
  Compression compression;
  const char* name;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

MnistWriteOptions OptionsFor(const std::string& root, const Case& c, size_t parts) {
  MnistWriteOptions o;
  o.format = c.format;
  o.compression = c.compression;
  o.num_partitions = parts;
  const bool two_dirs = c.format == DataFormat::kCsv || c.format == DataFormat::kPickle;
  o.images = two_dirs ? root + "/images" : root;
  o.labels = two_dirs ? root + "/labels" : "";
  return o;
}

MnistDatasetSpec SpecFor(const MnistWriteOptions& o) {
  MnistDatasetSpec s;
  s.format = o.format;
  s.images = o.images;
  s.labels = o.labels;
  return s;
}

// Reads every partition in order; returns the first error or OK.
Status ReadAllRecords(const MnistDatasetSpec& spec, std::vector<std::vector<uint8_t>>* out) {
  TOS_ASSIGN_OR_RETURN(auto ds, MnistDataset::Open(spec));
  for (size_t i = 0; i < ds->num_partitions(); ++i) {
    TOS_ASSIGN_OR_RETURN(auto reader, ds->OpenPartition(i));
    std::vector<uint8_t> rec(kMnistRecordBytes);
    for (;;) {
      TOS_ASSIGN_OR_RETURN(bool more, reader->Next(rec.data()));
      if (!more) break;
      out->push_back(rec);
    }
  }
  return Status::OK();
}

class FormatRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(FormatRoundTrip, RowsKeepTheirGlobalOrderAcrossParts) {
  TempDir tmp;
  Data data(97);
  MnistWriteOptions o = OptionsFor(tmp / "ds", GetParam(), 7);
  TOS_ASSERT_OK_AND_ASSIGN(MnistWriteStats stats,
                           WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n));
  EXPECT_EQ(stats.records, 97u);
  EXPECT_EQ(stats.partitions, 7u);
  EXPECT_GT(stats.bytes, 0u);
  TOS_ASSERT_OK_AND_ASSIGN(auto ds, MnistDataset::Open(SpecFor(o)));
  ASSERT_EQ(ds->num_partitions(), 7u);
  size_t r = 0;
  for (size_t i = 0; i < ds->num_partitions(); ++i) {
    TOS_ASSERT_OK_AND_ASSIGN(auto reader, ds->OpenPartition(i));
    uint8_t rec[kMnistRecordBytes];
    size_t in_part = 0;
    for (;;) {
      TOS_ASSERT_OK_AND_ASSIGN(bool more, reader->Next(rec));
      if (!more) break;
      data.Expect(r++, rec);
      ++in_part;
    }
    // Spark's split: partition i holds rows [i*n/p, (i+1)*n/p).
    EXPECT_EQ(in_part, (i + 1) * 97 / 7 - i * 97 / 7);
  }
  EXPECT_EQ(r, 97u);
}

TEST_P(FormatRoundTrip, PartitionsReadConcurrentlyFromManyThreads) {
  TempDir tmp;
  Data data(200);
  MnistWriteOptions o = OptionsFor(tmp / "ds", GetParam(), 8);
  ASSERT_TRUE(WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n).ok());
  TOS_ASSERT_OK_AND_ASSIGN(auto ds, MnistDataset::Open(SpecFor(o)));
  std::atomic<size_t> total{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ds->num_partitions(); ++i) {
    threads.emplace_back([&, i] {
      auto reader = ds->OpenPartition(i);
      if (!reader.ok()) return void(++errors);
      uint8_t rec[kMnistRecordBytes];
      size_t r = i * 200 / 8;
      for (;;) {
        auto more = (*reader)->Next(rec);
        if (!more.ok()) return void(++errors);
        if (!*more) break;
        if (rec[0] != data.labels[r] ||
            std::memcmp(rec + 1, &data.images[r * kMnistPixels], kMnistPixels) != 0) {
          ++errors;
        }
        ++r;
        ++total;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(total.load(), 200u);
}

TEST_P(FormatRoundTrip, MorePartitionsThanRowsGivesEmptyParts) {
  TempDir tmp;
  Data data(3);
  MnistWriteOptions o = OptionsFor(tmp / "ds", GetParam(), 5);
  ASSERT_TRUE(WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n).ok());
  std::vector<std::vector<uint8_t>> recs;
  TOS_ASSERT_OK(ReadAllRecords(SpecFor(o), &recs));
  ASSERT_EQ(recs.size(), 3u);
  for (size_t r = 0; r < 3; ++r) data.Expect(r, recs[r].data());
}

TEST_P(FormatRoundTrip, ExistingDatasetIsRefusedUnlessOverwrite) {
  TempDir tmp;
  Data data(10);
  MnistWriteOptions o = OptionsFor(tmp / "ds", GetParam(), 2);
  ASSERT_TRUE(WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n).ok());
  auto again = WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("already holds a dataset"), std::string::npos);
  EXPECT_NE(again.status().message().find("--overwrite"), std::string::npos);
  o.overwrite = true;
  o.num_partitions = 1;  // fewer parts than before: none of the old ones may survive
  Data other(4);
  ASSERT_TRUE(WriteMnistDataset(o, other.images.data(), other.labels.data(), other.n).ok());
  std::vector<std::vector<uint8_t>> recs;
  TOS_ASSERT_OK(ReadAllRecords(SpecFor(o), &recs));
  EXPECT_EQ(recs.size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, FormatRoundTrip,
                         ::testing::Values(Case{DataFormat::kCsv, Compression::kNone, "csv"},
                                           Case{DataFormat::kCsv2, Compression::kNone, "csv2"},
                                           Case{DataFormat::kTfr, Compression::kNone, "tfr"},
                                           Case{DataFormat::kTfr, Compression::kGzip, "tfr_gzip"},
                                           Case{DataFormat::kCsv, Compression::kGzip, "csv_gzip"},
                                           Case{DataFormat::kPickle, Compression::kNone, "pickle"}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

TEST(DataFormatTest, NamesParse) {
  EXPECT_EQ(*ParseDataFormat("csv"), DataFormat::kCsv);
  EXPECT_EQ(*ParseDataFormat("csv2"), DataFormat::kCsv2);
  EXPECT_EQ(*ParseDataFormat("tf"), DataFormat::kTfr);
  EXPECT_EQ(*ParseDataFormat("tfr"), DataFormat::kTfr);
  EXPECT_EQ(*ParseDataFormat("pickle"), DataFormat::kPickle);
  auto bad = ParseDataFormat("parquet");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("csv, csv2, tf, tfr or pickle"), std::string::npos);
}

TEST(DataFormatTest, PickleNeedsALabelsDirectory) {
  MnistDatasetSpec spec;
  spec.format = DataFormat::kPickle;
  spec.images = "/tmp";
  auto ds = MnistDataset::Open(spec);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.status().message().find("the pickle format needs a labels directory"),
            std::string::npos);
}

// ---- corruption inside a written dataset: the error names the file and line / offset ----

class CorruptDataset : public ::testing::Test {
 protected:
  std::string Write(DataFormat f) {
    Case c{f, Compression::kNone, ""};
    o_ = OptionsFor(tmp_ / "ds", c, 2);
    EXPECT_TRUE(WriteMnistDataset(o_, data_.images.data(), data_.labels.data(), data_.n).ok());
    return o_.images + "/part-00001";
  }
  Status ReadError() {
    std::vector<std::vector<uint8_t>> recs;
    return ReadAllRecords(SpecFor(o_), &recs);
  }
  // Replaces line `line` (1-based) of a text file.
  static void ReplaceLine(const std::string& path, size_t line, const std::string& text) {
    std::string data = testing::ReadAll(path);
    size_t start = 0;
    for (size_t i = 1; i < line; ++i) start = data.find('\n', start) + 1;
    size_t end = data.find('\n', start);
    data.replace(start, end - start, text);
    testing::WriteAll(path, data);
  }
  TempDir tmp_;
  Data data_{20};
  MnistWriteOptions o_;
};

TEST_F(CorruptDataset, CsvRowWithWrongNumberOfValues) {
  std::string part = Write(DataFormat::kCsv);
  ReplaceLine(part, 4, "1,2,3");
  Status s = ReadError();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(part + ": line 4: image has 3 values, expected 784"),
            std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, CsvNonNumericToken) {
  std::string part = Write(DataFormat::kCsv);
  std::string row(784 * 2 - 1, '0');
  for (size_t i = 1; i < row.size(); i += 2) row[i] = ',';
  row[10] = 'z';
  ReplaceLine(part, 2, row);
  Status s = ReadError();
  EXPECT_NE(s.message().find(part + ": line 2: image value 6 'z' is not an integer"),
            std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, CsvBadLabelNamesTheLabelsFile) {
  Write(DataFormat::kCsv);
  std::string labels = o_.labels + "/part-00000";
  ReplaceLine(labels, 3, "0.0,1.0");
  Status s = ReadError();
  EXPECT_NE(s.message().find(labels + ": line 3: label has 2 values"), std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, CsvImageAndLabelPartsOfDifferentLength) {
  Write(DataFormat::kCsv);
  std::string labels = o_.labels + "/part-00001";
  std::string data = testing::ReadAll(labels);
  data.erase(data.rfind('\n', data.size() - 2) + 1);  // drop the last label line
  testing::WriteAll(labels, data);
  Status s = ReadError();
  EXPECT_NE(s.message().find("image/label count mismatch: " + labels + " ends after line 9"),
            std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, CsvLabelsDirectoryWithFewerParts) {
  Write(DataFormat::kCsv);
  ASSERT_EQ(std::remove((o_.labels + "/part-00001").c_str()), 0);
  MnistDatasetSpec spec = SpecFor(o_);
  spec.allow_incomplete = true;
  auto ds = MnistDataset::Open(spec);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("has 2 parts but"), std::string::npos)
      << ds.status().ToString();
}

TEST_F(CorruptDataset, Csv2RowErrorNamesFileAndLine) {
  std::string part = Write(DataFormat::kCsv2);
  ReplaceLine(part, 5, "3|1,2");
  Status s = ReadError();
  EXPECT_NE(s.message().find(part + ": line 5: image has 2 values"), std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, TfRecordFlippedByteIsCrcMismatchNamingFileAndOffset) {
  std::string part = Write(DataFormat::kTfr);
  std::string data = testing::ReadAll(part);
  data[data.size() / 2] ^= 0x40;
  testing::WriteAll(part, data);
  Status s = ReadError();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(part + ": corrupt record at byte "), std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("CRC mismatch"), std::string::npos) << s.ToString();
}

TEST_F(CorruptDataset, TruncatedTfRecord) {
  std::string part = Write(DataFormat::kTfr);
  std::string data = testing::ReadAll(part);
  testing::WriteAll(part, data.substr(0, data.size() - 100));
  Status s = ReadError();
  EXPECT_NE(s.message().find(part + ": truncated record at byte"), std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, ExampleMissingAFeatureNamesRecordAndOffset) {
  std::string part = Write(DataFormat::kTfr);
  // Rewrite the part with a valid TFRecord whose second Example lacks "label".
  uint8_t rec[kMnistRecordBytes] = {};
  std::string good;
  AppendMnistExample(rec, &good);
  // good = 0x0a <2-byte length> <image entry> <label entry>; keep only the image entry.
  std::string entries = good.substr(3, good.find(std::string("\x0a\x17\x0a\x05label", 9)) - 3);
  std::string no_label = "\x0a";
  no_label += static_cast<char>(0x80 | (entries.size() & 0x7f));
  no_label += static_cast<char>(entries.size() >> 7);
  no_label += entries;
  {
    TOS_ASSERT_OK_AND_ASSIGN(auto w, TfRecordWriter::Create(part));
    TOS_ASSERT_OK(w->Write(good));
    TOS_ASSERT_OK(w->Write(no_label));
    TOS_ASSERT_OK(w->Close());
  }
  Status s = ReadError();
  EXPECT_NE(s.message().find(part + ": record 1 at byte " + std::to_string(16 + good.size()) +
                             ": Example has no 'label' feature"),
            std::string::npos)
      << s.ToString();
}

TEST_F(CorruptDataset, DatasetWithoutSuccessMarkerIsIncomplete) {
  Write(DataFormat::kCsv2);
  ASSERT_EQ(std::remove((o_.images + "/_SUCCESS").c_str()), 0);
  auto ds = MnistDataset::Open(SpecFor(o_));
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("incomplete"), std::string::npos);
  MnistDatasetSpec spec = SpecFor(o_);
  spec.allow_incomplete = true;
  TOS_ASSERT_OK_AND_ASSIGN(auto ok, MnistDataset::Open(spec));
  EXPECT_EQ(ok->num_partitions(), 2u);
}

TEST(MnistDatasetTest, FailedWriteLeavesNoSuccessMarkerAndNoTemporaries) {
  auto mem = std::make_shared<MemoryFileSystem>();
  RegisterFileSystem("mnistmem", mem);
  Data data(30);
  std::vector<uint8_t> bad_labels = data.labels;
  bad_labels[29] = 11;
  MnistWriteOptions o;
  o.format = DataFormat::kCsv2;
  o.images = "mnistmem://out";
  o.num_partitions = 3;
  auto r = WriteMnistDataset(o, data.images.data(), bad_labels.data(), data.n);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("label of row 29 is 11"), std::string::npos);
  TOS_ASSERT_OK_AND_ASSIGN(bool holds, HoldsDataset(o.images));
  EXPECT_FALSE(holds);
}

TEST(MnistDatasetTest, RoundTripOnTheMemoryFileSystem) {
  RegisterFileSystem("mnistmem2", std::make_shared<MemoryFileSystem>());
  Data data(25);
  MnistWriteOptions o;
  o.format = DataFormat::kTfr;
  o.images = "mnistmem2://train";
  o.num_partitions = 4;
  ASSERT_TRUE(WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n).ok());
  std::vector<std::vector<uint8_t>> recs;
  TOS_ASSERT_OK(ReadAllRecords(SpecFor(o), &recs));
  ASSERT_EQ(recs.size(), 25u);
  for (size_t r = 0; r < recs.size(); ++r) data.Expect(r, recs[r].data());
}

TEST(MnistDatasetTest, OpenPartitionOutOfRange) {
  TempDir tmp;
  Data data(5);
  MnistWriteOptions o;
  o.format = DataFormat::kCsv2;
  o.images = tmp / "d";
  o.num_partitions = 2;
  ASSERT_TRUE(WriteMnistDataset(o, data.images.data(), data.labels.data(), data.n).ok());
  TOS_ASSERT_OK_AND_ASSIGN(auto ds, MnistDataset::Open(SpecFor(o)));
  EXPECT_EQ(ds->OpenPartition(2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ds->partition_path(1), o.images + "/part-00001");
}

}  // namespace
}  // namespace tos
