// Direct mode (TFoS InputMode.TENSORFLOW): a node reads its own shard of a partitioned
// dataset, with parallel partition readers and an optional shuffle buffer.
//
// Threading: `readers` background threads read partitions into a bounded queue; one
// consumer thread calls NextBatch. Memory is bounded by queue_records + shuffle_buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tos/record_source.h"

namespace tos {

struct ShardReaderOptions {
  int shard_index = 0;        // this node's worker_index()
  int num_shards = 1;         // num_workers()
  int readers = 1;            // partitions read in parallel
  size_t shuffle_buffer = 0;  // 0: records come in partition order (with readers == 1)
  int epochs = 1;
  uint64_t seed = 1;
  size_t queue_records = 8192;
  // The readers delivering nothing for this long (a hung file system, a stalled remote
  // read) is a Timeout naming the partitions being read, instead of a wait without end.
  std::chrono::milliseconds read_timeout{std::chrono::minutes(10)};
};

class ShardReader {
 public:
  // Partition p belongs to shard p % num_shards. InvalidArgument on bad options.
  static Result<std::unique_ptr<ShardReader>> Open(std::shared_ptr<const RecordSource> source,
                                                   const ShardReaderOptions& options);
  ~ShardReader();

  // Replaces *out with up to n records. Returns false once the shard (all epochs) is
  // exhausted and nothing was returned. A read error (DataLoss naming the file) is returned
  // as soon as the consumer reaches it.
  Result<bool> NextBatch(size_t n, std::vector<std::string>* out);

  size_t num_partitions() const;  // in this shard, per epoch

  struct Impl;

 private:
  explicit ShardReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tos
