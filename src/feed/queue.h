// The bounded per-feed queue on a node: frames received from senders on one side, batches
// handed to the training loop on the other. Memory is bounded by capacity_bytes (plus one
// frame): a full queue stops the receiving thread, which stops reading its socket, so TCP
// flow control pushes back on the sender.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "feed/wire.h"
#include "tos/data_feed.h"

namespace tos::feed {

// One sender's connection, seen from the queue: where results and terminate notices go.
class SenderLink {
 public:
  virtual ~SenderLink() = default;
  virtual Status SendResults(const std::vector<std::string>& results) = 0;
  virtual void NotifyTerminate() = 0;
  virtual std::string Describe() const = 0;
};

struct Chunk {
  enum Kind { kData, kPartitionEnd, kEnd };
  Kind kind = kData;
  FeedMode mode = FeedMode::kTrain;
  std::string encoding = "bytes";
  std::unique_ptr<char[]> data;  // the frame payload, not zero-filled first
  size_t bytes = 0;
  std::vector<std::string_view> records;
  std::shared_ptr<SenderLink> sender;
  uint64_t partition = 0;
};

class FeedQueue {
 public:
  FeedQueue(std::string name, size_t capacity_bytes, std::chrono::milliseconds feed_timeout);

  const std::string& name() const { return name_; }

  // Producer side. Blocks while the queue is over capacity. Returns Aborted once the consumer
  // terminated the feed (the chunk is dropped), or when the queue is shut down.
  Status Push(std::shared_ptr<Chunk> chunk);
  void Attach(const std::shared_ptr<SenderLink>& link);
  void Detach(const std::shared_ptr<SenderLink>& link);
  void Fail(const Status& status);  // the consumer's next call throws with it
  void Shutdown();                  // node exiting: wake everyone
  bool terminated() const;
  bool failed() const;

  // Consumer side (DataFeed).
  Batch NextBatch(size_t n);
  bool ShouldStop() const;
  void BatchResults(const std::vector<std::string>& results);
  void Terminate();
  uint64_t consumed() const;
  std::string Describe() const;

  // Exactly-once streams (FeedOpen::stream). Claim waits up to `wait` while another
  // connection holds the stream (a speculative or retried Spark task whose first attempt is
  // still sending) and returns how many of its records the queue already took: the connection
  // drops that many from its start. Taken counts records pushed. A stream is never "complete":
  // a Spark task whose upstream failed ends its partition early and cleanly (PySpark's workers
  // see the end of their input), and only its retry brings the rest.
  Result<uint64_t> ClaimStream(const std::string& stream, std::chrono::milliseconds wait);
  void StreamTaken(const std::string& stream, uint64_t records);
  void ReleaseStream(const std::string& stream);
  bool consumer_waiting() const;  // "feed 'train': 1200 records consumed, 3 frames buffered"

 private:
  const std::string name_;
  const size_t capacity_bytes_;
  const std::chrono::milliseconds feed_timeout_;

  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::shared_ptr<Chunk>> queue_;
  size_t bytes_ = 0;
  std::shared_ptr<const Chunk> current_;
  size_t current_pos_ = 0;
  bool ended_ = false;
  bool terminated_ = false;
  bool shutdown_ = false;
  Status failed_;
  uint64_t consumed_ = 0;
  bool waiting_ = false;  // the consumer is blocked in next_batch()
  // Inference: the last batch's size and where its results go.
  size_t results_due_ = 0;
  std::shared_ptr<SenderLink> results_to_;
  std::set<std::shared_ptr<SenderLink>> links_;
  struct Stream {
    uint64_t taken = 0;
    bool held = false;
  };
  std::map<std::string, Stream> streams_;
  std::condition_variable stream_free_;
};

// Named feeds of one node, created on first use by either side.
class FeedRegistry {
 public:
  FeedRegistry(size_t capacity_bytes, std::chrono::milliseconds feed_timeout)
      : capacity_bytes_(capacity_bytes), feed_timeout_(feed_timeout) {}
  std::shared_ptr<FeedQueue> Get(const std::string& name);
  std::vector<std::shared_ptr<FeedQueue>> All() const;
  void ShutdownAll();
  std::chrono::milliseconds feed_timeout() const { return feed_timeout_; }

 private:
  const size_t capacity_bytes_;
  const std::chrono::milliseconds feed_timeout_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FeedQueue>> feeds_;
};

}  // namespace tos::feed
