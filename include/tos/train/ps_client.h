// Worker side of the parameter server for libtorch modules (see ps.h and docs/training.md): a
// thin layer over PsBufferClient (ps_buffer_client.h), which holds the protocol and does the work.
//
//   auto client = PsClient::Create(opts, NamedParameters(*model));   // shards computed here
//   if (chief) client->Initialize(spec);      // first Init of a shard wins, others are no-ops
//   client->WaitInitialized(timeout);         // every worker: values of the ps -> the model
//   loop: loss.backward(); client->PushGradients();  // update on the ps, new values back
//
// The client writes pulled values straight into the attached tensors' storage (float32,
// contiguous, CPU), so the model sees them at once. One thread at a time may use a client.
// Calls to several ps shards run in parallel; each has a deadline (rpc_timeout). Initialize
// and WaitInitialized wait for a ps that is not up yet (until the deadline); Pull, Push and
// GetState fail at once when a ps is unreachable (a ps that died is reported immediately).
// Failures name the ps shard, its address and the call.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tos/status.h"
#include "tos/train/ps.h"
#include "tos/train/ps_buffer_client.h"

namespace torch::nn {
class Module;
}

namespace tos::train {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Optimizer state and values of the whole model, as held by the ps (for checkpoints).
struct PsState {
  OptimizerSpec optimizer;
  int64_t global_step = 0;
  NamedTensors params;  // "<param>"
  NamedTensors slots;   // "<param>/<slot>", slot names per optimizer in docs/training.md
};

class PsClient {
 public:
  // `params` must be float32, contiguous, on the CPU, with unique names. The client keeps
  // references to them (shares their storage).
  static Result<std::unique_ptr<PsClient>> Create(const PsClientOptions& options,
                                                  NamedTensors params);
  virtual ~PsClient() = default;

  // Initializes every shard with the attached tensors' current values and `spec`, or with
  // `restore` (values, optimizer slots, global step; names must match the attached ones).
  // Shards already initialized keep their state. Typically called by the chief only.
  virtual Status Initialize(const OptimizerSpec& spec, const PsState* restore = nullptr) = 0;
  // Polls until every shard is initialized, then copies the values into the tensors.
  virtual Status WaitInitialized(std::chrono::milliseconds timeout) = 0;
  // Copies the current values of every shard into the tensors.
  virtual Status Pull() = 0;
  // Sends the tensors' gradients (zeros where a gradient is undefined); with pull_after the
  // updated values come back in the same call and are written into the tensors.
  virtual Status PushGradients(bool pull_after = true) = 0;
  // Global step (shard 0) seen in the last Pull/Push.
  virtual int64_t global_step() const = 0;
  // Values and optimizer state of every shard (a consistent snapshot per shard).
  virtual Result<PsState> GetState() = 0;
  // Tells every shard that this worker pushes no more, so synchronous rounds complete with the
  // workers that remain instead of waiting for it (call it when a worker's data runs out
  // before the others'). Harmless in asynchronous mode.
  virtual Status Leave() = 0;
  // Asks every ps to stop; errors from shards already gone are ignored.
  virtual Status StopServers() = 0;
};

// Parameters of a module as NamedTensors (names as in named_parameters()).
NamedTensors NamedParameters(const torch::nn::Module& module);

}  // namespace tos::train
