// The node-side view of a feed (TFoS InputMode.SPARK): records streamed by the driver (or by
// a Spark task on the same executor) into a bounded queue on this node.
//
// Threading: one consumer thread per feed (the training loop). Every call may block as
// documented and throws tos::Error on failure (a malformed frame, the driver gone, no data
// for feed_timeout) — the node runner reports the exception to the driver.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

namespace feed {
class FeedQueue;
struct Chunk;
}  // namespace feed

// A batch of records. The views stay valid while the Batch lives (it shares ownership of the
// received frames); no record is copied on the way from the socket to here.
class Batch {
 public:
  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  std::string_view operator[](size_t i) const { return records_[i]; }
  const std::vector<std::string_view>& records() const { return records_; }
  auto begin() const { return records_.begin(); }
  auto end() const { return records_.end(); }
  // How the sender encoded these records: "bytes", "text", "tuple" or "arrow" (docs/protocol.md;
  // tos/columns.h reads "arrow").
  const std::string& encoding() const { return encoding_; }
  // True for an inference batch: the feed expects batch_results() before the next batch.
  bool inference() const { return inference_; }

 private:
  friend class feed::FeedQueue;
  std::vector<std::string_view> records_;
  std::string encoding_ = "bytes";
  bool inference_ = false;
  std::vector<std::shared_ptr<const feed::Chunk>> keep_;
};

class DataFeed {
 public:
  explicit DataFeed(std::shared_ptr<feed::FeedQueue> queue);
  ~DataFeed();

  const std::string& name() const;

  // Returns up to n records. Blocks until n records are buffered, the current partition ends
  // (in inference mode a batch never spans partitions) or the feed ends. An empty batch
  // means the feed is over (should_stop() is then true). Throws tos::Error if no data
  // arrives for feed_timeout, on a malformed frame, or if results of the previous inference
  // batch were not returned.
  Batch next_batch(size_t n);

  // True once the feed ended and every record was consumed, or after terminate().
  bool should_stop() const;

  // Inference: exactly one result per record of the last batch, in order. Sent to the driver,
  // which writes them to the output partition of the input partition.
  void batch_results(const std::vector<std::string>& results);

  // Stops this node's feed now: the sender is told to stop, buffered data is dropped, and the
  // job does not report a feed timeout for it.
  void terminate();

  uint64_t records_consumed() const;

 private:
  std::shared_ptr<feed::FeedQueue> queue_;
};

}  // namespace tos
