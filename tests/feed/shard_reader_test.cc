#include "tos/shard_reader.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "test_util.h"
#include "tos/compression.h"
#include "tos/record_source.h"

namespace tos {
namespace {

std::shared_ptr<const RecordSource> Source(int partitions, int per_partition) {
  std::vector<std::vector<std::string>> parts(partitions);
  int n = 0;
  for (auto& p : parts)
    for (int i = 0; i < per_partition; ++i) p.push_back(std::to_string(n++));
  return std::make_shared<VectorRecordSource>(parts);
}

std::vector<std::string> ReadAll(ShardReader& r, size_t batch = 33) {
  std::vector<std::string> all, b;
  while (r.NextBatch(batch, &b).value()) all.insert(all.end(), b.begin(), b.end());
  return all;
}

std::vector<std::string> Lines(TextFileReader& r) {
  std::vector<std::string> out;
  std::string_view line;
  while (r.Next(&line).value()) out.emplace_back(line);
  return out;
}

TEST(TextFileReaderTest, ReadsLinesOfAPlainAndAGzipFileAndNamesTheLine) {
  testing::TempDir dir;
  const std::string text = "a,1\r\nb,2\n\nlast";
  ASSERT_TRUE(WriteStringToFile(dir / "plain.csv", text).ok());
  auto gz = OpenOutputFile(dir / "packed.csv.gz", Compression::kGzip);
  ASSERT_TRUE(gz.ok());
  ASSERT_TRUE((*gz)->Append(text).ok());
  ASSERT_TRUE((*gz)->Close().ok());
  for (const char* name : {"plain.csv", "packed.csv.gz"}) {
    auto r = TextFileReader::Open(dir / name);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->line_number(), 0u);
    EXPECT_EQ(Lines(**r), (std::vector<std::string>{"a,1", "b,2", "", "last"})) << name;
    EXPECT_EQ((*r)->line_number(), 4u);
    EXPECT_EQ((*r)->Where(), dir / name + ": line 4");
  }
}

TEST(TextFileReaderTest, AMissingFileAndABrokenGzipFileAreErrorsNamingThem) {
  testing::TempDir dir;
  auto missing = TextFileReader::Open(dir / "nope.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.csv"), std::string::npos);
  ASSERT_TRUE(WriteStringToFile(dir / "empty.csv.gz", "").ok());
  auto empty = TextFileReader::Open(dir / "empty.csv.gz");
  Status st = empty.status();
  if (empty.ok()) {
    std::string_view line;
    st = (*empty)->Next(&line).status();
  }
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("empty.csv.gz"), std::string::npos) << st.ToString();
}

TEST(ShardReaderTest, ShardsPartitionTheDatasetExactly) {
  auto src = Source(7, 100);
  std::multiset<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    auto r = ShardReader::Open(src, {s, 3, 2, 0, 1, 1, 512});
    ASSERT_TRUE(r.ok());
    for (auto& x : ReadAll(**r)) seen.insert(x);
  }
  ASSERT_EQ(seen.size(), 700u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 700u);  // no duplicates
}

TEST(ShardReaderTest, OneReaderWithoutShuffleKeepsOrder) {
  auto r = ShardReader::Open(Source(4, 10), {1, 2, 1, 0, 2, 1, 8});
  ASSERT_TRUE(r.ok());
  auto all = ReadAll(**r, 7);
  ASSERT_EQ(all.size(), 40u);  // partitions 1 and 3, two epochs
  EXPECT_EQ(all[0], "10");
  EXPECT_EQ(all[19], "39");
  EXPECT_EQ(all[20], "10");
}

TEST(ShardReaderTest, ShuffleBufferPermutesButLosesNothing) {
  auto r = ShardReader::Open(Source(2, 500), {0, 1, 2, 128, 1, 42, 256});
  ASSERT_TRUE(r.ok());
  auto all = ReadAll(**r);
  ASSERT_EQ(all.size(), 1000u);
  std::vector<std::string> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 1000u);
  int in_place = 0;
  for (int i = 0; i < 1000; ++i) in_place += all[i] == std::to_string(i);
  EXPECT_LT(in_place, 100);
}

TEST(ShardReaderTest, BadOptionsAreRejected) {
  EXPECT_FALSE(ShardReader::Open(Source(1, 1), {3, 3, 1, 0, 1, 1, 8}).ok());
  EXPECT_FALSE(ShardReader::Open(Source(1, 1), {0, 1, 0, 0, 1, 1, 8}).ok());
}

TEST(ShardReaderTest, ReadErrorsReachTheConsumer) {
  class Broken : public RecordSource {
   public:
    size_t num_partitions() const override { return 2; }
    Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t i) const override {
      return DataLoss("part-0000" + std::to_string(i) + ": offset 12: CRC mismatch");
    }
    std::string Describe() const override { return "broken"; }
  };
  auto r = ShardReader::Open(std::make_shared<Broken>(), {0, 1, 1, 0, 1, 1, 8});
  ASSERT_TRUE(r.ok());
  std::vector<std::string> b;
  auto st = (*r)->NextBatch(10, &b);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("CRC mismatch"), std::string::npos);
}

// A partition whose file system hangs: the consumer gets a Timeout naming the partition
// instead of waiting without end.
TEST(ShardReaderTest, HungReadIsATimeoutNamingThePartition) {
  class Hung : public RecordSource {
   public:
    size_t num_partitions() const override { return 3; }
    Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t i) const override {
      if (i == 2) std::this_thread::sleep_for(std::chrono::seconds(2));
      return data_.OpenPartition(i);
    }
    std::string Describe() const override { return "hung-fs://data"; }

   private:
    VectorRecordSource data_{{{"a"}, {"b"}, {"c"}}};
  };
  ShardReaderOptions o;
  o.read_timeout = std::chrono::milliseconds(300);
  auto r = ShardReader::Open(std::make_shared<Hung>(), o);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> b;
  Result<bool> st = (*r)->NextBatch(10, &b);
  ASSERT_FALSE(st.ok()) << "read " << b.size() << " records";
  EXPECT_EQ(st.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(st.status().message(),
            "no records from hung-fs://data for 0 s while reading partition(s) 2; is its file "
            "system hung or unreachable?");
}

}  // namespace
}  // namespace tos
