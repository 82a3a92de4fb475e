// Arrow records through a real feed (FeedServer + RunFeed over loopback) into ColumnFeed:
// columns without copies, batches across records, nulls and schemas refused with names,
// inference results as Arrow batches in order.
#include "tos/columns.h"

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <gtest/gtest.h>

#include <thread>

#include "feed/feed_server.h"
#include "feed/feeder.h"

namespace tos {
namespace {

using std::chrono::milliseconds;

const std::string kSecret = "columns-test-secret-0123456789abcdef";

std::string Ipc(const std::shared_ptr<arrow::RecordBatch>& rb) {
  auto sink = *arrow::io::BufferOutputStream::Create();
  auto writer = *arrow::ipc::MakeStreamWriter(sink, rb->schema());
  EXPECT_TRUE(writer->WriteRecordBatch(*rb).ok());
  EXPECT_TRUE(writer->Close().ok());
  return (*sink->Finish())->ToString();
}

std::shared_ptr<arrow::RecordBatch> ReadIpc(const std::string& bytes) {
  auto reader = *arrow::ipc::RecordBatchStreamReader::Open(
      std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes)));
  std::shared_ptr<arrow::RecordBatch> rb;
  EXPECT_TRUE(reader->ReadNext(&rb).ok());
  return rb;
}

// MNIST-like rows: image = 4 bytes all equal to (first + i) % 256, label = first + i.
std::string ImageRecord(int first, int rows, int partition = 0, bool null_label_at_3 = false) {
  arrow::BinaryBuilder images;
  arrow::Int32Builder labels;
  for (int i = 0; i < rows; ++i) {
    EXPECT_TRUE(images.Append(std::string(4, static_cast<char>((first + i) % 256))).ok());
    if (null_label_at_3 && i == 3) {
      EXPECT_TRUE(labels.AppendNull().ok());
    } else {
      EXPECT_TRUE(labels.Append(first + i).ok());
    }
  }
  auto schema =
      arrow::schema({arrow::field("image", arrow::binary()), arrow::field("label", arrow::int32())})
          ->WithMetadata(arrow::key_value_metadata({"tos.partition", "tos.row"},
                                                   {std::to_string(partition), "0"}));
  return Ipc(arrow::RecordBatch::Make(schema, rows, {*images.Finish(), *labels.Finish()}));
}

struct Node {
  feed::FeedRegistry registry{1 << 20, milliseconds(10000)};
  std::unique_ptr<feed::FeedServer> server;
  Node() {
    feed::FeedServer::Options o;
    o.secret = kSecret;
    o.bind_host = "127.0.0.1";
    server = std::move(feed::FeedServer::Start(o, &registry)).value();
  }
  feed::FeedTarget target() const { return {0, "worker:0", {"127.0.0.1", server->port()}}; }
};

// Feeds `partitions` (one Arrow record each) to a node and runs `consume` on its feed.
Status Feed(std::vector<std::string> records, feed::FeedMode mode,
            const std::function<void(DataFeed&)>& consume,
            std::vector<std::string>* results = nullptr) {
  Node node;
  std::vector<std::vector<std::string>> parts;
  for (auto& r : records) parts.push_back({r});
  VectorRecordSource source(parts, "arrow");
  DataFeed feed(node.registry.Get("input"));
  std::string error;
  std::thread consumer([&] {
    try {
      consume(feed);
    } catch (const Error& e) {
      error = e.what();
      feed.terminate();
    }
  });
  feed::FeedJob job;
  job.secret = kSecret;
  job.mode = mode;
  job.encoding = "arrow";
  job.on_result = [&](size_t, const std::string& r) {
    if (results) results->push_back(r);
    return Status::OK();
  };
  Status st = feed::RunFeed(source, {node.target()}, job);
  consumer.join();
  if (!error.empty()) return InvalidArgument(error);
  return st;
}

TEST(ColumnsTest, DecodesEveryColumnKindWithoutCopies) {
  arrow::FixedSizeListBuilder fsl(arrow::default_memory_pool(),
                                  std::make_shared<arrow::FloatBuilder>(), 3);
  auto* fvals = static_cast<arrow::FloatBuilder*>(fsl.value_builder());
  arrow::ListBuilder lst(arrow::default_memory_pool(), std::make_shared<arrow::Int32Builder>());
  auto* lvals = static_cast<arrow::Int32Builder*>(lst.value_builder());
  arrow::StringBuilder names;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(fsl.Append().ok());
    for (int j = 0; j < 3; ++j) ASSERT_TRUE(fvals->Append(i * 10.f + j).ok());
    ASSERT_TRUE(lst.Append().ok());
    for (int j = 0; j < 2; ++j) ASSERT_TRUE(lvals->Append(i * 100 + j).ok());
    ASSERT_TRUE(names.Append(i == 0 ? "a" : "bcd").ok());
  }
  auto rb = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("v", arrow::fixed_size_list(arrow::float32(), 3)),
                     arrow::field("l", arrow::list(arrow::int32())),
                     arrow::field("s", arrow::utf8())}),
      2, {*fsl.Finish(), *lst.Finish(), *names.Finish()});
  auto b = DecodeArrowRecord(Ipc(rb));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->num_rows(), 2);
  EXPECT_EQ(b->schema(), "v: fixed_size_list<item: float>[3], l: list<item: int32>, s: string");
  const Column& v = b->column("v");
  EXPECT_EQ(v.width, 3);
  EXPECT_EQ(v.values<float>()[4], 11.f);
  const Column& l = b->column("l");
  EXPECT_EQ(l.width, 2);
  EXPECT_EQ(l.values<int32_t>()[3], 101);
  const Column& s = b->column("s");
  EXPECT_EQ(s.width, -1);
  EXPECT_EQ(s.bytes(1), "bcd");
  EXPECT_EQ(s.row_size(0), 1);
  EXPECT_THROW(v.values<double>(), Error);
  try {
    b->column("image");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no column 'image'"), std::string::npos) << e.what();
  }
}

TEST(ColumnsTest, GarbageRecordIsDataLoss) {
  auto b = DecodeArrowRecord("this is not arrow");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(b.status().message().find("not an Arrow IPC stream"), std::string::npos);
}

TEST(ColumnsTest, TrainingBatchesSpanRecordsInOrder) {
  std::vector<int64_t> sizes;
  std::vector<int32_t> labels;
  Status st = Feed({ImageRecord(0, 250), ImageRecord(250, 0), ImageRecord(250, 130)},
                   feed::FeedMode::kTrain, [&](DataFeed& feed) {
                     ColumnFeedOptions o;
                     o.expect = {{"image", "binary"}, {"label", "int32"}};
                     ColumnFeed columns(feed, o);
                     for (;;) {
                       ColumnBatch b = columns.next_batch(100);
                       if (b.empty()) break;
                       sizes.push_back(b.num_rows());
                       const Column& image = b.column("image");
                       ASSERT_EQ(image.width, 4);
                       const int32_t* l = b.column("label").values<int32_t>();
                       for (int64_t i = 0; i < b.num_rows(); ++i) {
                         labels.push_back(l[i]);
                         ASSERT_EQ(image.values<uint8_t>()[i * 4 + 3], l[i] % 256);
                       }
                     }
                     EXPECT_TRUE(columns.should_stop());
                     EXPECT_EQ(columns.rows_consumed(), 380u);
                   });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(sizes, (std::vector<int64_t>{100, 100, 100, 80}));
  ASSERT_EQ(labels.size(), 380u);
  for (int i = 0; i < 380; ++i) ASSERT_EQ(labels[i], i);
}

TEST(ColumnsTest, NullIsRefusedNamingColumnRowAndPartition) {
  Status st = Feed({ImageRecord(0, 10, 7, true)}, feed::FeedMode::kTrain, [](DataFeed& feed) {
    ColumnFeed columns(feed);
    columns.next_batch(5);
  });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("column 'label' is null in row 3 of Spark partition 7"),
            std::string::npos)
      << st.message();
}

TEST(ColumnsTest, UnexpectedSchemaNamesBothSchemas) {
  Status st = Feed({ImageRecord(0, 10)}, feed::FeedMode::kTrain, [](DataFeed& feed) {
    ColumnFeedOptions o;
    o.expect = {{"image", "binary"}, {"label", "int64"}};
    ColumnFeed columns(feed, o);
    columns.next_batch(5);
  });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("have the columns (image: binary, label: int32); this program "
                              "expects (image: binary, label: int64)"),
            std::string::npos)
      << st.message();
}

TEST(ColumnsTest, InferenceAnswersEachRecordAsOneArrowBatchInOrder) {
  std::vector<std::string> results;
  Status st = Feed(
      {ImageRecord(0, 250), ImageRecord(250, 0), ImageRecord(250, 30)}, feed::FeedMode::kInference,
      [](DataFeed& feed) {
        ColumnFeedOptions o;
        o.keep_columns = {"label"};
        ColumnFeed columns(feed, o);
        for (;;) {
          ColumnBatch b = columns.next_batch(100);
          if (b.empty()) break;
          EXPECT_LE(b.num_rows(), 100);
          const int32_t* l = b.column("label").values<int32_t>();
          std::vector<int64_t> out;
          for (int64_t i = 0; i < b.num_rows(); ++i) out.push_back(l[i] * 2);
          columns.batch_results(out);
        }
      },
      &results);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(results.size(), 3u);
  int64_t next = 0;
  std::vector<int64_t> rows;
  for (auto& r : results) {
    auto rb = ReadIpc(r);
    ASSERT_TRUE(rb);
    EXPECT_EQ(rb->schema()->ToString(), "label: int32\nprediction: int64");
    rows.push_back(rb->num_rows());
    auto labels = std::static_pointer_cast<arrow::Int32Array>(rb->column(0));
    auto preds = std::static_pointer_cast<arrow::Int64Array>(rb->column(1));
    for (int64_t i = 0; i < rb->num_rows(); ++i, ++next) {
      ASSERT_EQ(labels->Value(i), next);
      ASSERT_EQ(preds->Value(i), 2 * next);
    }
  }
  EXPECT_EQ(rows, (std::vector<int64_t>{250, 0, 30}));
}

TEST(ColumnsTest, WrongNumberOfResultsIsRefused) {
  Status st = Feed({ImageRecord(0, 10)}, feed::FeedMode::kInference, [](DataFeed& feed) {
    ColumnFeed columns(feed);
    ColumnBatch b = columns.next_batch(100);
    columns.batch_results(std::vector<int64_t>{1, 2});
  });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("got 2 results for a batch of 10 rows"), std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace tos
