// The sending side of the feed channel: streams the partitions of a RecordSource to the
// feed servers of the training nodes, in batched frames, one connection per node, reading
// and sending in parallel across nodes. Used by the driver (local mode); the Spark bridge
// speaks the same protocol.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "feed/wire.h"
#include "net/cancel.h"
#include "tos/record_source.h"

namespace tos::feed {

struct FeedTarget {
  int executor_id = 0;
  std::string label;  // "worker:1 (executor 2)"
  net::HostPort address;
};

struct TargetProgress {
  std::atomic<uint64_t> records_sent{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> partitions_sent{0};
  std::atomic<uint64_t> results_received{0};
  std::atomic<bool> terminated{false};
  std::atomic<int> epoch{0};
  std::atomic<int64_t> partition{-1};
};

struct FeedJob {
  std::string secret;
  std::string feed_name = "input";
  FeedMode mode = FeedMode::kTrain;
  int epochs = 1;
  std::chrono::milliseconds feed_timeout{600000};
  size_t frame_bytes = size_t{1} << 20;
  std::string sender = "driver";   // named in the node's messages
  std::string encoding = "bytes";  // FEED_OPEN encoding: bytes, text, tuple, arrow
  std::string stream;      // FEED_OPEN stream: training exactly once (a Spark partition's key)
  bool shared = false;     // FEED_OPEN shared: one of several senders (Spark bridge)
  std::string output_dir;  // inference: where part-NNNNN result files go
  // Inference: when set, called with each complete output partition (results joined by
  // '\n', each followed by one) instead of writing output_dir/part-NNNNN and _SUCCESS.
  std::function<Status(size_t partition, std::string text)> on_output;
  // Inference: when set, called with each result as it arrives, in order, instead of either of
  // the above; results may then hold any bytes (Arrow batches from tos/columns.h do).
  std::function<Status(size_t partition, const std::string& result)> on_result;
  net::CancelToken* cancel = nullptr;  // aborts the feed promptly when the job fails
  TargetProgress* progress = nullptr;  // optional: an array of targets.size() counters
  // What the node itself last reported (consumed records, state), for timeout messages.
  std::function<std::string(int executor_id)> describe_node;
};

// Partition p of epoch e goes to target (p + e) % targets.size() in training (so epochs mix)
// and to p % targets.size() in inference. Returns when every record was delivered (and, in
// inference, every result received and written), when all targets terminated, or on the
// first error: a feed timeout names the target, its progress and what to do.
Status RunFeed(const RecordSource& source, const std::vector<FeedTarget>& targets,
               const FeedJob& job);

}  // namespace tos::feed
