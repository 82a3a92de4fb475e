// The runtime pieces the Spark bridge adds: tuple records, shared feeds (one sender per Spark
// partition, the feed ended by the driver), and the feed client program over stdin.
#include <gtest/gtest.h>

#include <thread>

#include "feed/feed_server.h"
#include "feed/feeder.h"
#include "test_util.h"
#include "tos/tuple_record.h"

namespace tos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSecret = "bridge-test-secret-0123456789abcdef";

std::string SampleTuple() {
  std::string r;
  AppendTupleHeader(&r, 3);
  uint8_t pixels[4] = {0, 7, 255, 3};
  AppendTupleField(&r, TupleType::kUint8, pixels, 4);
  int64_t label = 9;
  AppendTupleField(&r, TupleType::kInt64, &label, 1);
  AppendTupleField(&r, TupleType::kString, "cat", 3);
  return r;
}

TEST(TupleRecordTest, RoundTrip) {
  const std::string record = SampleTuple();  // fields are views into it
  auto fields = DecodeTupleRecord(record);
  ASSERT_TRUE(fields.ok()) << fields.status().ToString();
  ASSERT_EQ(fields->size(), 3u);
  EXPECT_EQ((*fields)[0].values<int>(), (std::vector<int>{0, 7, 255, 3}));
  EXPECT_EQ((*fields)[1].at(0), 9.0);
  EXPECT_EQ((*fields)[2].raw, "cat");
  EXPECT_FALSE((*fields)[2].numeric());
}

TEST(TupleRecordTest, TooShortForFieldCount) {
  auto r = DecodeTupleRecord(std::string("\x01\x00", 2));
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(TupleRecordTest, TruncatedFieldHeader) {
  std::string rec = SampleTuple().substr(0, 4 + 5 + 4 + 2);
  auto r = DecodeTupleRecord(rec);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("field 1"), std::string::npos) << r.status().message();
}

TEST(TupleRecordTest, UnknownType) {
  std::string rec = SampleTuple();
  rec[4] = 42;
  auto r = DecodeTupleRecord(rec);
  EXPECT_NE(r.status().message().find("unknown type 42 at byte 4"), std::string::npos)
      << r.status().message();
}

TEST(TupleRecordTest, CountRunsPastEnd) {
  std::string rec;
  AppendTupleHeader(&rec, 1);
  double v = 1;
  AppendTupleField(&rec, TupleType::kFloat64, &v, 1);
  rec[5] = 2;  // claims two doubles
  auto r = DecodeTupleRecord(rec);
  EXPECT_NE(r.status().message().find("run past the record end"), std::string::npos)
      << r.status().message();
}

TEST(TupleRecordTest, TrailingBytes) {
  auto r = DecodeTupleRecord(SampleTuple() + "x");
  EXPECT_NE(r.status().message().find("1 bytes after the last field"), std::string::npos);
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
  feed::FeedTarget target() const {
    return {0, "worker:0 (executor 0)", {"127.0.0.1", server->port()}};
  }
};

std::vector<std::string> Lines(const std::string& prefix, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

feed::FeedJob SharedJob(feed::FeedMode mode = feed::FeedMode::kTrain) {
  feed::FeedJob job;
  job.secret = kSecret;
  job.shared = true;
  job.mode = mode;
  job.feed_timeout = seconds(10);
  return job;
}

TEST(SharedFeedTest, SendersEndOnlyTheirConnectionAndTheDriverEndsTheFeed) {
  Node node;
  DataFeed feed(node.registry.Get("input"));
  VectorRecordSource a({Lines("a", 1000)}), b({Lines("b", 500)});
  ASSERT_TRUE(feed::RunFeed(a, {node.target()}, SharedJob()).ok());
  ASSERT_TRUE(feed::RunFeed(b, {node.target()}, SharedJob()).ok());
  EXPECT_FALSE(feed.should_stop());  // two senders done, the feed goes on
  feed::FeedJob end;
  end.secret = kSecret;
  VectorRecordSource none({});
  std::thread ender([&] { EXPECT_TRUE(feed::RunFeed(none, {node.target()}, end).ok()); });
  size_t total = 0;
  for (;;) {
    auto batch = feed.next_batch(64);
    if (batch.empty()) break;
    total += batch.size();
  }
  ender.join();
  EXPECT_EQ(total, 1500u);
  EXPECT_TRUE(feed.should_stop());
}

TEST(SharedFeedTest, ABrokenSharedSenderDoesNotFailTheFeed) {
  Node node;
  DataFeed feed(node.registry.Get("input"));
  {
    auto sock = net::Connect({"127.0.0.1", node.server->port()}, net::After(seconds(5)));
    ASSERT_TRUE(sock.ok());
    ASSERT_TRUE(
        net::ClientHandshake(*sock, kSecret, net::Channel::kFeed, net::After(seconds(5))).ok());
    feed::FeedOpen open{"input", feed::FeedMode::kTrain, "dying task", "text", true};
    ASSERT_TRUE(net::WriteFrame(*sock, net::FrameType::kFeedOpen, feed::EncodeFeedOpen(open),
                                net::After(seconds(5)))
                    .ok());
  }  // closed without FEED_END: a killed Spark task
  VectorRecordSource a({Lines("a", 10)});
  ASSERT_TRUE(feed::RunFeed(a, {node.target()}, SharedJob()).ok());
  EXPECT_EQ(feed.next_batch(10).size(), 10u);  // no exception: the feed is healthy
}

TEST(SharedFeedTest, InferenceBatchesNeverSpanSenders) {
  Node node;
  DataFeed feed(node.registry.Get("input"));
  std::vector<std::vector<std::string>> got(2);
  std::vector<std::thread> senders;
  for (int s = 0; s < 2; ++s) {
    senders.emplace_back([&, s] {
      VectorRecordSource src({Lines(s == 0 ? "a" : "b", 700)});
      auto job = SharedJob(feed::FeedMode::kInference);
      job.on_output = [&, s](size_t, std::string text) {
        got[s].push_back(text);
        return Status::OK();
      };
      Status st = feed::RunFeed(src, {node.target()}, job);
      EXPECT_TRUE(st.ok()) << st.ToString();
    });
  }
  size_t answered = 0;
  while (answered < 1400) {
    auto batch = feed.next_batch(50);
    ASSERT_FALSE(batch.empty());
    std::vector<std::string> results;
    for (auto r : batch) {
      EXPECT_EQ(r[0], batch[0][0]) << "a batch mixed two senders";
      results.push_back("r-" + std::string(r));
    }
    feed.batch_results(results);
    answered += batch.size();
  }
  for (auto& t : senders) t.join();
  for (int s = 0; s < 2; ++s) {
    ASSERT_EQ(got[s].size(), 1u);
    std::string expected;
    for (auto& l : Lines(s == 0 ? "a" : "b", 700)) expected += "r-" + l + "\n";
    EXPECT_EQ(got[s][0], expected);
  }
}

// The feed client program: blocks on stdin, one partition to the node, a status on stdout.
TEST(FeedClientTest, StreamsStdinBlocksToTheNode) {
  Node node;
  DataFeed feed(node.registry.Get("train"));
  testing::TempDir dir;
  std::string in;
  auto block = [&](char kind, uint32_t count, const std::string& payload) {
    in.push_back(kind);
    for (uint32_t v : {count, static_cast<uint32_t>(payload.size())})
      for (int i = 0; i < 4; ++i) in.push_back(static_cast<char>(v >> (8 * i)));
    in += payload;
  };
  block('N', 3, "x,1\ny,2\nz,3");
  std::string lp;
  for (std::string r : {"with\nnewline", ""}) {
    for (int i = 0; i < 4; ++i) lp.push_back(static_cast<char>(r.size() >> (8 * i)));
    lp += r;
  }
  block('L', 2, lp);
  block('E', 0, "");
  testing::WriteAll(dir / "in", in);
  std::string cmd = "TOS_FEED_CLIENT=1 TOS_SECRET=" + kSecret +
                    " TOS_FEED_TARGET=127.0.0.1:" + std::to_string(node.server->port()) +
                    " TOS_FEED_NAME=train TOS_FEED_ENCODING=text " + std::string(TOS_BIN_DIR) +
                    "/tos_test_app < " + (dir / "in") + " > " + (dir / "out");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::ReadAll(dir / "out");
  auto batch = feed.next_batch(5);
  ASSERT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch.encoding(), "text");
  EXPECT_EQ(batch[0], "x,1");
  EXPECT_EQ(batch[2], "z,3");
  EXPECT_EQ(batch[3], "with\nnewline");
  EXPECT_EQ(batch[4], "");
  std::string out = testing::ReadAll(dir / "out");
  EXPECT_EQ(out[0], 'S');
  EXPECT_NE(out.find("\"ok\":true"), std::string::npos) << out;
  EXPECT_NE(out.find("\"records\":5"), std::string::npos) << out;
}

TEST(FeedClientTest, GarbageOnStdinIsReportedWithItsOffset) {
  Node node;
  testing::TempDir dir;
  std::string in = {'N', 1, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 'Q'};
  testing::WriteAll(dir / "in", in + std::string(8, '\0'));
  std::string cmd = "TOS_FEED_CLIENT=1 TOS_SECRET=" + kSecret +
                    " TOS_FEED_TARGET=127.0.0.1:" + std::to_string(node.server->port()) + " " +
                    std::string(TOS_BIN_DIR) + "/tos_test_app < " + (dir / "in") + " > " +
                    (dir / "out") + " 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  std::string out = testing::ReadAll(dir / "out");
  EXPECT_NE(out.find("block at offset 11: unknown block kind"), std::string::npos) << out;
}

}  // namespace
}  // namespace tos
