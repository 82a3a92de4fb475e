// The runtime's ring allreduce over plain TCP on float buffers, run entirely in the calling
// thread (no helper threads). No libtorch here: the Python runtime (torchonspark._tos_train)
// uses it as it is, and TcpCollectives (tcp_collectives.h) is the libtorch layer over it.
//
// Ring allreduce (reduce-scatter then allgather over N chunks): each chunk's sum is computed
// by exactly one rank and then copied to the others, so every rank ends with bit-identical
// values. Each rank keeps one connection to its successor and one from its predecessor;
// sending and receiving progress together through poll(), so no thread hand-off happens on
// the hot path — on a busy machine (several trainers sharing cores) that is what dominates
// the cost of a small allreduce.
//
// Rendezvous goes through a RingRendezvous (the job's key-value store): rank r publishes
// "<prefix>/<round>/addr/<r>" = "host:port" of its listening socket; connections start with
// an 8-byte hello (magic, rank) that the acceptor checks. Failures and timeouts name the peer
// rank and its address. Every rank must make the same calls in the same order with buffers of
// the same sizes. Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tos/status.h"

namespace tos::train {

// The few store operations a ring's rendezvous needs. Implementations: JobStore (below, the
// driver's key-value store) and, in tos_train, any c10d::Store.
class RingRendezvous {
 public:
  virtual ~RingRendezvous() = default;
  // Adds `delta` to the counter `key` (0 when unset) and returns its new value.
  virtual Result<int64_t> Add(const std::string& key, int64_t delta) = 0;
  virtual Status Set(const std::string& key, const std::string& value) = 0;
  // Waits up to `timeout` for `key` to be set; Timeout naming the key otherwise.
  virtual Result<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) = 0;
};

// The driver's rendezvous key-value store (docs/protocol.md, channel kv-store) at "host:port"
// (Context::reservation_address()), every key under `prefix`. Thread-safe (calls serialised).
Result<std::unique_ptr<RingRendezvous>> ConnectJobStore(const std::string& address,
                                                        const std::string& secret,
                                                        const std::string& prefix,
                                                        std::chrono::milliseconds timeout);

struct TcpRingOptions {
  int rank = 0;
  int size = 1;
  std::string host = "127.0.0.1";  // address of this node that the other ranks can reach
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // rendezvous and each operation
  std::string store_prefix = "tos/tcpring";
  // A bound socket to listen on (ownership passes to the ring, also on failure), such as the
  // node's reserved port, so that the ring stays in TOS_NODE_PORT's range; -1: a new socket on
  // `host`, any port.
  int listen_fd = -1;
};

class TcpRing {
 public:
  // Blocks until connected to both ring neighbours or the timeout passes. Each ring made over
  // one store and prefix is a new round, so a second ring never finds the first one's
  // addresses.
  static Result<std::unique_ptr<TcpRing>> Connect(RingRendezvous& store,
                                                  const TcpRingOptions& options);
  virtual ~TcpRing() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place elementwise sum of `n` floats over all ranks; every rank ends bit-identical.
  virtual Status AllreduceSum(float* data, size_t n) = 0;
  // `bytes` bytes overwritten in place with root's.
  virtual Status Broadcast(void* data, size_t bytes, int root) = 0;
  virtual Status Barrier() = 0;
};

// Parameters laid out in flat buckets of at most cap_bytes (filled in order; one parameter
// larger than the cap gets a bucket of its own).
struct Bucket {
  std::vector<size_t> members;   // parameter indices
  std::vector<int64_t> offsets;  // each member's first float in the bucket
  int64_t numel = 0;
};
std::vector<Bucket> PlanBuckets(const std::vector<int64_t>& numels, size_t cap_bytes);

// Gradient averaging on float buffers over a TcpRing, bucketed like GradientAllreducer
// (allreduce.h), for callers that hold their parameters as plain arrays.
class BufferAllreducer {
 public:
  // params[i]: the values of parameter i (caller-owned, valid for the allreducer's life),
  // numels[i] floats; the same list on every rank. `ring` must outlive the allreducer.
  static Result<std::unique_ptr<BufferAllreducer>> Create(TcpRing* ring, std::vector<float*> params,
                                                          std::vector<int64_t> numels,
                                                          size_t bucket_cap_bytes = 25u << 20);
  // Overwrites every parameter with root's values.
  Status BroadcastParameters(int root = 0);
  // grads[i] (numels[i] floats) is replaced in place by its mean over the ranks.
  Status AverageGradients(const std::vector<float*>& grads);

 private:
  BufferAllreducer() = default;
  // Broadcasts from `root` (average false) or averages (true) each bucket of `arrays`.
  Status ForEachBucket(const std::vector<float*>& arrays, bool average, int root);
  TcpRing* ring_ = nullptr;
  std::vector<float*> params_;
  std::vector<int64_t> numels_;
  std::vector<Bucket> buckets_;
  std::vector<float> flat_;
};

}  // namespace tos::train
