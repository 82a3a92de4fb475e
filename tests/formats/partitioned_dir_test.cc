#include "tos/partitioned_dir.h"

#include <gtest/gtest.h>

#include "io/memory_fs.h"
#include "test_util.h"

namespace tos {
namespace {

using testing::TempDir;

void Touch(const std::string& path, const std::string& data = "x") {
  ASSERT_TRUE(WriteStringToFile(path, data).ok()) << path;
}

TEST(PartFileNameTest, FiveDigitsThenMore) {
  EXPECT_EQ(PartFileName(0), "part-00000");
  EXPECT_EQ(PartFileName(42, ".gz"), "part-00042.gz");
  EXPECT_EQ(PartFileName(123456), "part-123456");
}

TEST(PartFileNameTest, ParsesSparkAndHadoopNames) {
  size_t i = 99;
  EXPECT_TRUE(ParsePartFileName("part-00007", &i));
  EXPECT_EQ(i, 7u);
  EXPECT_TRUE(ParsePartFileName("part-r-00012", &i));
  EXPECT_EQ(i, 12u);
  EXPECT_TRUE(ParsePartFileName("part-m-00003.gz", &i));
  EXPECT_EQ(i, 3u);
  EXPECT_TRUE(ParsePartFileName("part-100001.tfrecord", &i));
  EXPECT_EQ(i, 100001u);
  EXPECT_TRUE(
      ParsePartFileName("part-00004-8d1e2f3a-0b1c-4d5e-9f00-1a2b3c4d5e6f-c000.snappy.parquet", &i));
  EXPECT_EQ(i, 4u);
  EXPECT_FALSE(ParsePartFileName("part-", &i));
  EXPECT_FALSE(ParsePartFileName("part-0001x", &i));
  EXPECT_FALSE(ParsePartFileName(".part-00001.tmp", &i));
  EXPECT_FALSE(ParsePartFileName("_SUCCESS", &i));
  EXPECT_FALSE(ParsePartFileName("xpart-00001", &i));
}

TEST(ListPartFilesTest, OrderIsNumericNotLexicographic) {
  TempDir tmp;
  for (size_t i = 0; i < 12; ++i)
    Touch(tmp / (i < 10 ? PartFileName(i) : "part-" + std::to_string(i)));
  Touch(tmp / kSuccessMarker, "");
  Touch(tmp / "README");
  TOS_ASSERT_OK_AND_ASSIGN(auto parts, ListPartFiles(tmp.path(), false));
  ASSERT_EQ(parts.size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    size_t index;
    ASSERT_TRUE(ParsePartFileName(Basename(parts[i]), &index));
    EXPECT_EQ(index, i);
  }
}

TEST(ListPartFilesTest, MissingSuccessMarkerIsRefusedAsIncomplete) {
  TempDir tmp;
  Touch(tmp / "part-00000");
  auto r = ListPartFiles(tmp.path(), false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("no _SUCCESS marker"), std::string::npos);
  EXPECT_NE(r.status().message().find("--allow-incomplete"), std::string::npos);
  TOS_ASSERT_OK_AND_ASSIGN(auto parts, ListPartFiles(tmp.path(), true));
  EXPECT_EQ(parts.size(), 1u);
}

TEST(ListPartFilesTest, GapInPartNumbersIsRefused) {
  TempDir tmp;
  Touch(tmp / "part-00000");
  Touch(tmp / "part-00002");
  Touch(tmp / kSuccessMarker, "");
  auto r = ListPartFiles(tmp.path(), false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("part-00001 is missing"), std::string::npos);
  TOS_ASSERT_OK_AND_ASSIGN(auto parts, ListPartFiles(tmp.path(), true));
  EXPECT_EQ(parts.size(), 2u);
}

TEST(ListPartFilesTest, TwoFilesForOnePartitionAreRefused) {
  TempDir tmp;
  Touch(tmp / "part-00000");
  Touch(tmp / "part-00000.gz");
  Touch(tmp / kSuccessMarker, "");
  EXPECT_NE(ListPartFiles(tmp.path(), true).status().message().find("two files for partition 0"),
            std::string::npos);
}

TEST(ListPartFilesTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(ListPartFiles("/nonexistent/dataset", true).status().code(), StatusCode::kNotFound);
}

TEST(ListPartFilesTest, EmptyCompleteDatasetHasNoParts) {
  TempDir tmp;
  Touch(tmp / kSuccessMarker, "");
  TOS_ASSERT_OK_AND_ASSIGN(auto parts, ListPartFiles(tmp.path(), false));
  EXPECT_TRUE(parts.empty());
}

TEST(CreatePartFileTest, ReadersNeverSeeAHalfWrittenPart) {
  TempDir tmp;
  TOS_ASSERT_OK_AND_ASSIGN(auto f, CreatePartFile(tmp.path(), "part-00000"));
  TOS_ASSERT_OK(f->Append("half"));
  TOS_ASSERT_OK(f->Flush());
  TOS_ASSERT_OK_AND_ASSIGN(auto during, ListPartFiles(tmp.path(), true));
  EXPECT_TRUE(during.empty());
  TOS_ASSERT_OK(f->Append(" and the rest"));
  TOS_ASSERT_OK(f->Close());
  TOS_ASSERT_OK_AND_ASSIGN(auto after, ListPartFiles(tmp.path(), true));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(testing::ReadAll(after[0]), "half and the rest");
}

TEST(CreatePartFileTest, AbandonedPartLeavesNothingBehind) {
  TempDir tmp;
  {
    TOS_ASSERT_OK_AND_ASSIGN(auto f, CreatePartFile(tmp.path(), "part-00003"));
    TOS_ASSERT_OK(f->Append("never finished"));
  }
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(tmp.path()));
  TOS_ASSERT_OK_AND_ASSIGN(auto entries, fs->ListDir(tmp.path()));
  EXPECT_TRUE(entries.empty());
}

TEST(CreatePartFileTest, GzipPartIsCompressedAndCommitted) {
  TempDir tmp;
  TOS_ASSERT_OK_AND_ASSIGN(auto f, CreatePartFile(tmp.path(), "part-00000.gz", Compression::kGzip));
  TOS_ASSERT_OK(f->Append(std::string(10000, 'a')));
  TOS_ASSERT_OK(f->Close());
  std::string gz = testing::ReadAll(tmp / "part-00000.gz");
  EXPECT_TRUE(LooksGzipped(gz));
  EXPECT_LT(gz.size(), 1000u);
}

TEST(HoldsDatasetTest, PartsMarkerOrTemporariesCount) {
  TempDir tmp;
  TOS_ASSERT_OK_AND_ASSIGN(bool holds, HoldsDataset(tmp.path()));
  EXPECT_FALSE(holds);
  TOS_ASSERT_OK_AND_ASSIGN(holds, HoldsDataset(tmp / "missing"));
  EXPECT_FALSE(holds);
  Touch(tmp / "notes.txt");
  TOS_ASSERT_OK_AND_ASSIGN(holds, HoldsDataset(tmp.path()));
  EXPECT_FALSE(holds);
  Touch(tmp / ".part-00001.tmp");
  TOS_ASSERT_OK_AND_ASSIGN(holds, HoldsDataset(tmp.path()));
  EXPECT_TRUE(holds);
}

TEST(RemoveDatasetTest, RemovesOnlyDatasetFiles) {
  TempDir tmp;
  std::string d = tmp / "ds";
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(d));
  TOS_ASSERT_OK(fs->CreateDirs(d));
  Touch(d + "/part-00000");
  Touch(d + "/.part-00001.tmp");
  Touch(d + "/_SUCCESS");
  Touch(d + "/keep.txt");
  TOS_ASSERT_OK(RemoveDataset(d));
  TOS_ASSERT_OK_AND_ASSIGN(auto entries, fs->ListDir(d));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "keep.txt");
  TOS_ASSERT_OK(fs->DeleteFile(d + "/keep.txt"));
  Touch(d + "/part-00000");
  TOS_ASSERT_OK(RemoveDataset(d));
  TOS_ASSERT_OK_AND_ASSIGN(bool exists, fs->Exists(d));
  EXPECT_FALSE(exists);             // emptied, so removed
  TOS_EXPECT_OK(RemoveDataset(d));  // absent: fine
}

TEST(PartitionedDirTest, WorksOnTheMemoryFileSystem) {
  RegisterFileSystem("pdmem", std::make_shared<MemoryFileSystem>());
  std::string d = "pdmem://data/set";
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(d));
  TOS_ASSERT_OK(fs->CreateDirs(d));
  for (size_t i = 0; i < 3; ++i) {
    TOS_ASSERT_OK_AND_ASSIGN(auto f, CreatePartFile(d, PartFileName(i)));
    TOS_ASSERT_OK(f->Append(std::to_string(i)));
    TOS_ASSERT_OK(f->Close());
  }
  EXPECT_FALSE(ListPartFiles(d, false).ok());
  TOS_ASSERT_OK(WriteSuccessMarker(d));
  TOS_ASSERT_OK_AND_ASSIGN(auto parts, ListPartFiles(d, false));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2], "pdmem://data/set/part-00002");
}

}  // namespace
}  // namespace tos
