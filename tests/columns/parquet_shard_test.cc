// ParquetShard over Parquet parts written here with Arrow C++'s Parquet writer, as Spark SQL
// names them: row groups dealt to shards, every row once, in order; errors name the file.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>

#include <fstream>

#include "test_util.h"
#include "tos/columns.h"

namespace tos {
namespace {

// Part `part` holds rows first..first+rows-1 (id int64, image binary of 8 bytes = id % 256),
// in row groups of `group_rows`.
void WritePart(const std::string& dir, int part, int64_t first, int64_t rows, int64_t group_rows,
               bool null_at_5 = false) {
  arrow::Int64Builder ids;
  arrow::BinaryBuilder images;
  for (int64_t i = first; i < first + rows; ++i) {
    if (null_at_5 && i == first + 5) {
      ASSERT_TRUE(ids.AppendNull().ok());
    } else {
      ASSERT_TRUE(ids.Append(i).ok());
    }
    ASSERT_TRUE(images.Append(std::string(8, static_cast<char>(i % 256))).ok());
  }
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("image", arrow::binary())}),
      {*ids.Finish(), *images.Finish()});
  char name[64];
  std::snprintf(name, sizeof(name), "/part-%05d-0a1b2c3d-c000.snappy.parquet", part);
  auto out = *arrow::io::FileOutputStream::Open(dir + name);
  ASSERT_TRUE(
      parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out, group_rows).ok());
  ASSERT_TRUE(out->Close().ok());
}

void Success(const std::string& dir) { std::ofstream(dir + "/_SUCCESS").close(); }

std::vector<int64_t> ReadAll(ParquetShard& shard, size_t batch) {
  std::vector<int64_t> ids;
  for (;;) {
    ColumnBatch b = shard.next_batch(batch);
    if (b.empty()) break;
    const int64_t* id = b.column("id").values<int64_t>();
    const Column& image = b.column("image");
    EXPECT_EQ(image.width, 8);
    for (int64_t i = 0; i < b.num_rows(); ++i) {
      EXPECT_EQ(image.values<uint8_t>()[i * 8], id[i] % 256);
      ids.push_back(id[i]);
    }
  }
  return ids;
}

TEST(ParquetShardTest, RowGroupsAreDealtToShardsAndReadInOrder) {
  testing::TempDir tmp;
  // Row groups of 100 rows: part 0 has 3 (0-99, 100-199, 200-249), part 1 has 2, part 2 has 1.
  WritePart(tmp.path(), 0, 0, 250, 100);
  WritePart(tmp.path(), 1, 250, 200, 100);
  WritePart(tmp.path(), 2, 450, 30, 100);
  Success(tmp.path());
  std::vector<int64_t> shard0, shard1;
  for (size_t s = 0; s < 2; ++s) {
    ParquetShardOptions o;
    o.path = tmp.path();
    o.shard_index = s;
    o.num_shards = 2;
    o.expect = {{"image", "binary"}};
    auto shard = ParquetShard::Open(o);
    ASSERT_TRUE(shard.ok()) << shard.status().ToString();
    (s == 0 ? shard0 : shard1) = ReadAll(**shard, 64);
    EXPECT_EQ((*shard)->row_groups(), 3u);
  }
  // Global row groups 0, 2, 4 (0-99, 200-249, 350-449) and 1, 3, 5 (100-199, 250-349, 450-479).
  std::vector<int64_t> want0, want1;
  for (int64_t i = 0; i < 100; ++i) want0.push_back(i);
  for (int64_t i = 200; i < 250; ++i) want0.push_back(i);
  for (int64_t i = 350; i < 450; ++i) want0.push_back(i);
  for (int64_t i = 100; i < 200; ++i) want1.push_back(i);
  for (int64_t i = 250; i < 350; ++i) want1.push_back(i);
  for (int64_t i = 450; i < 480; ++i) want1.push_back(i);
  EXPECT_EQ(shard0, want0);
  EXPECT_EQ(shard1, want1);
}

TEST(ParquetShardTest, EpochsRepeatTheShard) {
  testing::TempDir tmp;
  WritePart(tmp.path(), 0, 0, 30, 10);
  Success(tmp.path());
  ParquetShardOptions o;
  o.path = tmp.path();
  o.epochs = 3;
  o.columns = {"id"};
  auto shard = ParquetShard::Open(o);
  ASSERT_TRUE(shard.ok()) << shard.status().ToString();
  std::vector<int64_t> ids;
  for (;;) {
    ColumnBatch b = (*shard)->next_batch(7);
    if (b.empty()) break;
    EXPECT_EQ(b.schema(), "id: int64");
    for (int64_t i = 0; i < b.num_rows(); ++i) ids.push_back(b.column("id").values<int64_t>()[i]);
  }
  ASSERT_EQ(ids.size(), 90u);
  EXPECT_EQ(ids[29], 29);
  EXPECT_EQ(ids[30], 0);
}

TEST(ParquetShardTest, ErrorsNameTheFile) {
  testing::TempDir tmp;
  WritePart(tmp.path(), 0, 0, 20, 10, /*null_at_5=*/true);
  Success(tmp.path());
  ParquetShardOptions o;
  o.path = tmp.path();
  o.columns = {"label"};
  auto missing = ParquetShard::Open(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("has no column 'label' (it has id: int64, image: "
                                            "binary)"),
            std::string::npos)
      << missing.status().message();
  o.columns = {};
  auto shard = ParquetShard::Open(o);
  ASSERT_TRUE(shard.ok());
  try {
    (*shard)->next_batch(100);
    FAIL() << "expected the null to be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("part-00000-0a1b2c3d-c000.snappy.parquet: column 'id' "
                                         "is null in row 5 of row group 0"),
              std::string::npos)
        << e.what();
  }
  testing::TempDir bad;
  std::ofstream(bad.path() + "/part-00000.parquet") << "not parquet at all";
  Success(bad.path());
  o.path = bad.path();
  auto notparquet = ParquetShard::Open(o);
  ASSERT_FALSE(notparquet.ok());
  EXPECT_EQ(notparquet.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(notparquet.status().message().find("part-00000.parquet: not a Parquet file"),
            std::string::npos)
      << notparquet.status().message();
}

}  // namespace
}  // namespace tos
