// Worker side of the parameter server on plain float buffers (see ps.h and docs/training.md).
// No libtorch here: it is what the Python runtime (torchonspark._tos_train) uses, so that a
// user's process never holds a second libtorch; PsClient (ps_client.h) is the libtorch layer
// over it for C++ programs.
//
//   std::vector<ParamBuffer> params = {{"w", w_data, {784, 128}}, ...};  // caller-owned floats
//   auto client = PsBufferClient::Create(opts, params).value();
//   if (chief) client->Initialize(spec);  // first Init of a shard wins, others are no-ops
//   client->WaitInitialized(timeout);     // every worker: values of the ps -> the buffers
//   loop: compute grads; client->PushGradients(grad_ptrs);  // update on the ps, values back
//
// The client writes pulled values straight into the buffers, which must stay valid (and keep
// their size) for the client's life. One thread at a time may use a client. Calls to several ps
// shards run in parallel; each has a deadline (rpc_timeout). Initialize and WaitInitialized
// wait for a ps that is not up yet (until the deadline); Pull, Push and GetState fail at once
// when a ps is unreachable (a ps that died is reported immediately). Failures name the ps
// shard, its address and the call.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tos/status.h"
#include "tos/train/ps.h"

namespace tos::train {

struct PsClientOptions {
  std::vector<std::string> ps_addresses;  // "host:port", index = shard
  std::string secret;                     // job secret (same as the servers')
  int worker_index = 0;                   // this worker's index among the workers
  // Deadline of each call. In synchronous mode a Push waits for the slowest worker, so this
  // must exceed the time between the first and the last worker's push of a step.
  std::chrono::milliseconds rpc_timeout{std::chrono::minutes(10)};
};

// One parameter: its name (unique), its float32 values (row-major) and its shape.
struct ParamBuffer {
  std::string name;
  float* data = nullptr;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

// A named array owned by its holder (values, optimizer slots).
struct NamedArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Optimizer state and values of the whole model, as held by the ps.
struct PsSnapshot {
  OptimizerSpec optimizer;
  int64_t global_step = 0;
  std::vector<NamedArray> params;  // "<param>"
  std::vector<NamedArray> slots;   // "<param>/<slot>", slot names per optimizer in docs/training.md
};

class PsBufferClient {
 public:
  // Fails on an empty address list or secret, a duplicate name, or a null buffer.
  static Result<std::unique_ptr<PsBufferClient>> Create(const PsClientOptions& options,
                                                        std::vector<ParamBuffer> params);
  virtual ~PsBufferClient() = default;

  // Initializes every shard with the buffers' current values and `spec`, or with `restore`
  // (values, optimizer slots, global step; names and shapes must match the buffers). Shards
  // already initialized keep their state. Typically called by the chief only.
  virtual Status Initialize(const OptimizerSpec& spec, const PsSnapshot* restore = nullptr) = 0;
  // Polls until every shard is initialized, then copies the values into the buffers.
  virtual Status WaitInitialized(std::chrono::milliseconds timeout) = 0;
  // Copies the current values of every shard into the buffers.
  virtual Status Pull() = 0;
  // grads[i]: the gradient of parameter i (as many floats as the parameter), or nullptr for
  // zeros. With pull_after the updated values come back in the same call, into the buffers.
  virtual Status PushGradients(const std::vector<const float*>& grads, bool pull_after = true) = 0;
  // Global step (shard 0) seen in the last Pull/Push/Leave.
  virtual int64_t global_step() const = 0;
  // Values and optimizer state of every shard (a consistent snapshot per shard).
  virtual Result<PsSnapshot> GetState() = 0;
  // Tells every shard that this worker pushes no more, so synchronous rounds complete with the
  // workers that remain instead of waiting for it. Harmless in asynchronous mode.
  virtual Status Leave() = 0;
  // Asks every ps to stop; errors from shards already gone are ignored.
  virtual Status StopServers() = 0;
};

}  // namespace tos::train
