// The feed channel in one process over real loopback sockets: a FeedServer with its queues
// on one side, RunFeed on the other.
#include <gtest/gtest.h>

#include <thread>

#include "feed/feed_server.h"
#include "feed/feeder.h"
#include "net/frame.h"
#include "test_util.h"

namespace tos::feed {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSecret = "feed-test-secret-0123456789abcdef";

struct Node {
  FeedRegistry registry;
  std::unique_ptr<FeedServer> server;
  explicit Node(size_t capacity = 1 << 20, milliseconds timeout = milliseconds(10000))
      : registry(capacity, timeout) {
    FeedServer::Options o;
    o.secret = kSecret;
    o.bind_host = "127.0.0.1";
    auto s = FeedServer::Start(o, &registry);
    EXPECT_TRUE(s.ok());
    server = std::move(s).value();
  }
  FeedTarget target(int id) const {
    return {id, "worker:" + std::to_string(id), {"127.0.0.1", server->port()}};
  }
};

std::vector<std::vector<std::string>> MakePartitions(std::vector<int> sizes) {
  std::vector<std::vector<std::string>> parts;
  int n = 0;
  for (int s : sizes) {
    parts.emplace_back();
    for (int i = 0; i < s; ++i) parts.back().push_back("record-" + std::to_string(n++));
  }
  return parts;
}

std::vector<std::string> Drain(DataFeed& feed, size_t batch) {
  std::vector<std::string> out;
  while (true) {
    auto b = feed.next_batch(batch);
    if (b.empty()) break;
    for (auto r : b) out.emplace_back(r);
  }
  return out;
}

TEST(FeedTest, TrainDeliversEveryRecordOfEveryEpochInPartitionOrder) {
  Node node;
  VectorRecordSource source(MakePartitions({100, 0, 37, 5000}));
  DataFeed feed(node.registry.Get("input"));
  std::vector<std::string> got;
  std::thread consumer([&] { got = Drain(feed, 64); });
  FeedJob job;
  job.secret = kSecret;
  job.epochs = 2;
  job.frame_bytes = 1024;  // many frames
  ASSERT_TRUE(RunFeed(source, {node.target(0)}, job).ok());
  consumer.join();
  ASSERT_EQ(got.size(), 2u * 5137u);
  EXPECT_EQ(got[0], "record-0");
  EXPECT_EQ(got[5137], "record-0");
  EXPECT_EQ(got.back(), "record-5136");
  EXPECT_TRUE(feed.should_stop());
}

TEST(FeedTest, PartitionsAreSpreadOverTargets) {
  Node a, b;
  VectorRecordSource source(MakePartitions({10, 20, 30, 40}));
  DataFeed fa(a.registry.Get("input")), fb(b.registry.Get("input"));
  std::vector<std::string> ga, gb;
  std::thread ca([&] { ga = Drain(fa, 7); }), cb([&] { gb = Drain(fb, 7); });
  FeedJob job;
  job.secret = kSecret;
  ASSERT_TRUE(RunFeed(source, {a.target(0), b.target(1)}, job).ok());
  ca.join();
  cb.join();
  EXPECT_EQ(ga.size(), 10u + 30u);
  EXPECT_EQ(gb.size(), 20u + 40u);
}

TEST(FeedTest, InferenceReturnsOneResultPerRecordInOrderWithEmptyAndUnevenPartitions) {
  Node a, b;
  testing::TempDir tmp;
  std::vector<int> sizes = {10, 0, 3, 27, 0, 1};
  auto parts = MakePartitions(sizes);
  VectorRecordSource source(parts);
  auto serve = [](DataFeed& feed) {
    while (!feed.should_stop()) {
      auto batch = feed.next_batch(4);
      if (batch.empty()) break;
      std::vector<std::string> results;
      for (auto r : batch) results.push_back("pred(" + std::string(r) + ")");
      feed.batch_results(results);
    }
  };
  DataFeed fa(a.registry.Get("input")), fb(b.registry.Get("input"));
  std::thread ta([&] { serve(fa); }), tb([&] { serve(fb); });
  FeedJob job;
  job.secret = kSecret;
  job.mode = FeedMode::kInference;
  job.output_dir = tmp / "out";
  Status st = RunFeed(source, {a.target(0), b.target(1)}, job);
  ta.join();
  tb.join();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(testing::FileExists(tmp / "out/_SUCCESS"));
  for (size_t p = 0; p < parts.size(); ++p) {
    char name[32];
    std::snprintf(name, sizeof(name), "out/part-%05zu", p);
    std::string expected;
    for (auto& r : parts[p]) expected += "pred(" + r + ")\n";
    EXPECT_EQ(testing::ReadAll(tmp / name), expected) << name;
  }
}

TEST(FeedTest, InferenceBatchesNeverSpanPartitions) {
  Node node;
  testing::TempDir tmp;
  VectorRecordSource source(MakePartitions({5, 5, 5}));
  DataFeed feed(node.registry.Get("input"));
  std::vector<size_t> sizes;
  std::thread t([&] {
    while (true) {
      auto batch = feed.next_batch(4);
      if (batch.empty()) break;
      sizes.push_back(batch.size());
      feed.batch_results(std::vector<std::string>(batch.size(), "x"));
    }
  });
  FeedJob job;
  job.secret = kSecret;
  job.mode = FeedMode::kInference;
  job.output_dir = tmp / "out";
  ASSERT_TRUE(RunFeed(source, {node.target(0)}, job).ok());
  t.join();
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 1, 4, 1, 4, 1}));
}

TEST(FeedTest, WrongNumberOfResultsIsAnError) {
  Node node;
  testing::TempDir tmp;
  VectorRecordSource source(MakePartitions({5}));
  DataFeed feed(node.registry.Get("input"));
  std::string error;
  std::thread t([&] {
    auto batch = feed.next_batch(5);
    try {
      feed.batch_results({"only one"});
    } catch (const Error& e) {
      error = e.what();
    }
    feed.terminate();
  });
  FeedJob job;
  job.secret = kSecret;
  job.mode = FeedMode::kInference;
  job.output_dir = tmp / "out";
  Status st = RunFeed(source, {node.target(0)}, job);
  t.join();
  EXPECT_NE(error.find("exactly one result per input"), std::string::npos) << error;
  EXPECT_FALSE(st.ok());
}

TEST(FeedTest, TerminateStopsTheSenderWithoutTimeout) {
  Node node(64 * 1024);
  // ~40 MB: far more than the queue and the socket buffers hold.
  VectorRecordSource source({std::vector<std::string>(200000, std::string(200, 'r'))});
  DataFeed feed(node.registry.Get("input"));
  std::thread t([&] {
    (void)feed.next_batch(10);
    feed.terminate();
  });
  FeedJob job;
  job.secret = kSecret;
  job.feed_timeout = seconds(20);
  std::vector<TargetProgress> progress(1);
  job.progress = progress.data();
  auto start = std::chrono::steady_clock::now();
  Status st = RunFeed(source, {node.target(0)}, job);
  t.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(progress[0].terminated.load());
  EXPECT_LT(progress[0].records_sent.load(), 200000u);  // the rest was not shipped
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(15));
  EXPECT_TRUE(feed.should_stop());
}

TEST(FeedTest, StalledConsumerGivesFeedTimeoutNamingTheNode) {
  Node node(64 * 1024);
  std::vector<std::string> big(100000, std::string(200, 'x'));  // ~20 MB, more than buffers hold
  VectorRecordSource source({big});
  DataFeed feed(node.registry.Get("input"));
  (void)feed;  // never consumed
  FeedJob job;
  job.secret = kSecret;
  job.feed_timeout = milliseconds(500);
  Status st = RunFeed(source, {node.target(7)}, job);
  EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
  EXPECT_NE(st.message().find("worker:7"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("terminate()"), std::string::npos) << st.message();
  node.registry.ShutdownAll();
}

TEST(FeedTest, QueueMemoryIsBounded) {
  const size_t capacity = 256 * 1024;
  Node node(capacity);
  std::vector<std::string> big(50000, std::string(100, 'y'));
  VectorRecordSource source({big});
  auto queue = node.registry.Get("input");
  DataFeed feed(queue);
  std::atomic<bool> done{false};
  std::thread sender([&] {
    FeedJob job;
    job.secret = kSecret;
    job.frame_bytes = 64 * 1024;
    EXPECT_TRUE(RunFeed(source, {node.target(0)}, job).ok());
    done = true;
  });
  // Nobody consumes: the queue fills up to its capacity, and then the sender is held back.
  std::string d;
  size_t frames = 0;
  for (int i = 0; i < 1000 && frames * 64 * 1024 < capacity; ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(10));
    d = queue->Describe();
    frames = std::stoul(d.substr(d.find("consumed, ") + 10));
  }
  ASSERT_GE(frames * 64 * 1024, capacity) << d;
  EXPECT_FALSE(done) << "the sender finished 5 MB into a 256 KiB queue nobody reads";
  d = queue->Describe();
  frames = std::stoul(d.substr(d.find("consumed, ") + 10));
  EXPECT_LE(frames * 64 * 1024, capacity + 64 * 1024 + 1024) << d;
  auto got = Drain(feed, 1000);
  sender.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(got.size(), big.size());
}

// An authenticated feed connection with FEED_OPEN sent, as a sender opens it.
void OpenRawFeed(Node& node, Result<net::Socket>* s) {
  *s = net::Connect({"127.0.0.1", node.server->port()}, net::After(seconds(5)));
  ASSERT_TRUE(s->ok());
  ASSERT_TRUE(net::ClientHandshake(**s, kSecret, net::Channel::kFeed, net::After(seconds(5))).ok());
  ASSERT_TRUE(net::WriteFrame(**s, net::FrameType::kFeedOpen,
                              EncodeFeedOpen({"input", FeedMode::kTrain, "test"}),
                              net::After(seconds(5)))
                  .ok());
}

TEST(FeedTest, MalformedFrameFailsTheConsumerWithAClearError) {
  Node node;
  DataFeed feed(node.registry.Get("input"));
  Result<net::Socket> s = Unavailable("not connected");
  ASSERT_NO_FATAL_FAILURE(OpenRawFeed(node, &s));
  std::string bad;
  net::PutU32(&bad, 1);  // one record declared
  net::PutU32(&bad, 0);
  net::PutU32(&bad, 1000);  // it claims 1000 bytes; only 2 follow
  bad += "ab";
  ASSERT_TRUE(net::WriteFrame(*s, net::FrameType::kFeedData, bad, net::After(seconds(5))).ok());
  try {
    (void)feed.next_batch(10);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("malformed frame 1"), std::string::npos) << m;
    EXPECT_NE(m.find("exceeds"), std::string::npos) << m;
  }
}

TEST(FeedTest, ConsumerTimesOutWhenNoDataArrives) {
  Node node(1 << 20, milliseconds(200));
  DataFeed feed(node.registry.Get("input"));
  try {
    (void)feed.next_batch(10);
    FAIL() << "expected a timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kTimeout);
    EXPECT_NE(std::string(e.what()).find("feed 'input'"), std::string::npos);
  }
}

TEST(FeedWireTest, DecodeRejectsTruncatedAndTrailingBytes) {
  std::vector<std::string_view> recs;
  std::string p;
  net::PutU32(&p, 1);
  net::PutU32(&p, 0);
  AppendRecord(&p, "abc");
  EXPECT_TRUE(DecodeRecords(p, &recs).ok());
  EXPECT_FALSE(DecodeRecords(p + "z", &recs).ok());
  EXPECT_FALSE(DecodeRecords(p.substr(0, p.size() - 1), &recs).ok());
  std::string fixed;
  net::PutU32(&fixed, 2);
  net::PutU32(&fixed, 3);
  fixed += "abcdef";
  recs.clear();
  ASSERT_TRUE(DecodeRecords(fixed, &recs).ok());
  EXPECT_EQ(recs[1], "def");
  EXPECT_FALSE(DecodeRecords(fixed + "g", &recs).ok());
}

TEST(FeedWireTest, HugeDeclaredCountIsRefusedBeforeAllocating) {
  for (uint32_t count : {0xFFFFFFFFu, 0x10000000u}) {
    std::vector<std::string_view> recs;
    std::string p;
    net::PutU32(&p, count);
    net::PutU32(&p, 0);
    AppendRecord(&p, "abc");
    Status st = DecodeRecords(p, &recs);
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.message();
    EXPECT_NE(st.message().find("declares"), std::string::npos) << st.message();
    EXPECT_EQ(recs.capacity(), 0u);
  }
  std::vector<std::string> results;
  std::string r;
  net::PutU32(&r, 0xFFFFFFFFu);
  EXPECT_EQ(DecodeResults(r, &results).code(), StatusCode::kDataLoss);
}

TEST(FeedTest, HugeRecordCountSendsFeedErrorAndFailsTheConsumer) {
  Node node;
  DataFeed feed(node.registry.Get("input"));
  Result<net::Socket> s = Unavailable("not connected");
  ASSERT_NO_FATAL_FAILURE(OpenRawFeed(node, &s));
  std::string bad;
  net::PutU32(&bad, 0xFFFFFFFFu);
  net::PutU32(&bad, 0);
  ASSERT_TRUE(net::WriteFrame(*s, net::FrameType::kFeedData, bad, net::After(seconds(5))).ok());
  auto reply = net::ReadFrame(*s, net::After(seconds(5)));
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply->type, net::FrameType::kFeedError);
  EXPECT_NE(reply->payload.find("declares 4294967295 records"), std::string::npos)
      << reply->payload;
  try {
    (void)feed.next_batch(10);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed frame 1"), std::string::npos) << e.what();
  }
}

// A partition that fails after `fail_after` records: a Spark task attempt that died.
class DyingSource : public RecordSource {
 public:
  DyingSource(std::vector<std::string> records, size_t fail_after)
      : records_(std::move(records)), fail_after_(fail_after) {}
  size_t num_partitions() const override { return 1; }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t) const override {
    struct Reader : PartitionReader {
      const DyingSource* s;
      size_t i = 0;
      Result<bool> Next(std::string_view* r) override {
        if (i == s->fail_after_) return Aborted("the task attempt died");
        if (i == s->records_.size()) return false;
        *r = s->records_[i++];
        return true;
      }
    };
    auto r = std::make_unique<Reader>();
    r->s = this;
    return std::unique_ptr<PartitionReader>(std::move(r));
  }
  std::string Describe() const override { return "dying source"; }

 private:
  std::vector<std::string> records_;
  size_t fail_after_;
};

FeedJob StreamJob(const std::string& stream, bool shared) {
  FeedJob job;
  job.secret = kSecret;
  job.frame_bytes = 256;  // many frames: the first attempt dies between them
  job.stream = stream;
  job.shared = shared;
  return job;
}

TEST(FeedTest, ARetriedStreamIsTakenExactlyOnceInOrder) {
  Node node;
  auto records = MakePartitions({3000})[0];
  DataFeed feed(node.registry.Get("input"));
  std::vector<std::string> got;
  std::thread consumer([&] { got = Drain(feed, 50); });
  // Attempt 0 dies after 1234 records; attempt 1 sends the whole partition again.
  DyingSource dying(records, 1234);
  EXPECT_FALSE(RunFeed(dying, {node.target(0)}, StreamJob("call-1/7", true)).ok());
  VectorRecordSource whole({records});
  ASSERT_TRUE(RunFeed(whole, {node.target(0)}, StreamJob("call-1/7", false)).ok());
  consumer.join();
  EXPECT_EQ(got, records);
}

TEST(FeedTest, SpeculativeAttemptsOfAStreamAreTakenOnce) {
  Node node;
  auto records = MakePartitions({2000})[0];
  DataFeed feed(node.registry.Get("input"));
  std::vector<std::string> got;
  std::thread consumer([&] { got = Drain(feed, 50); });
  VectorRecordSource whole({records});
  Status a, b;
  std::thread ta([&] { a = RunFeed(whole, {node.target(0)}, StreamJob("call-1/0", true)); });
  std::thread tb([&] { b = RunFeed(whole, {node.target(0)}, StreamJob("call-1/0", true)); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a.ToString();
  EXPECT_TRUE(b.ok()) << b.ToString();
  // Another stream (the next partition) ends the feed.
  VectorRecordSource next({{"last"}});
  ASSERT_TRUE(RunFeed(next, {node.target(0)}, StreamJob("call-1/1", false)).ok());
  consumer.join();
  records.push_back("last");
  EXPECT_EQ(got, records);
}

}  // namespace
}  // namespace tos::feed
