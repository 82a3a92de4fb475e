// Parameter server: the server side and the parts both sides share. No libtorch here.
//
// A model's parameters are split into shards, one per ps node (AssignShards). Each ps node
// runs a PsServer that keeps the values of its shard and the optimizer state for them and
// applies the updates; workers use PsClient (ps_client.h) to Pull values and Push gradients.
// The protocol (src/train/ps.proto) and its semantics are specified in docs/training.md.
//
// Asynchronous mode (default): every Push is applied at once and increments the global step.
// Synchronous mode: a shard collects one Push from each of num_workers workers, applies their
// mean once, increments the global step once, then answers all of them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tos/status.h"

namespace tos::train {

// How the ps updates parameters. Defaults follow TensorFlow's.
struct OptimizerSpec {
  std::string type = "adagrad";  // "sgd", "momentum", "adagrad", "adam"
  double learning_rate = 0.01;
  double momentum = 0.9;             // momentum: accum = momentum*accum + g; w -= lr*accum
  bool nesterov = false;             // momentum: w -= lr*(g + momentum*accum)
  double initial_accumulator = 0.1;  // adagrad: accum += g*g; w -= lr*g/sqrt(accum)
  double beta1 = 0.9;                // adam (TF1 form, bias correction through beta powers)
  double beta2 = 0.999;
  double epsilon = 1e-8;
};
Status ValidateOptimizerSpec(const OptimizerSpec& spec);

// Deterministic shard assignment, the same on every node: parameters sorted by size
// (descending, ties by name) are given one by one to the shard with the fewest floats so far
// (ties to the lowest index). Returns shard index per parameter, in the input order.
struct ParamInfo {
  std::string name;
  int64_t numel = 0;
};
std::vector<int> AssignShards(const std::vector<ParamInfo>& params, int num_shards);

// The cluster as the runtime knows it.
struct ClusterSpec {
  std::vector<std::string> ps;       // "host:port" of each ps node, index = shard
  std::vector<std::string> workers;  // "host:port" of each worker (chief first if any)
};

struct PsServerOptions {
  int shard = 0;        // this node's task index among the ps nodes
  int num_shards = 1;   // number of ps nodes
  int num_workers = 1;  // workers pushing (used by synchronous mode)
  std::string secret;   // job secret for the HMAC tokens; must not be empty
  bool synchronous = false;
  // Socket already bound (not listening) to this node's reserved port with SO_REUSEPORT set;
  // the server binds the same port and closes this fd once it serves (ownership passes to
  // the server, also on failure). -1: bind `port` instead (0 = any free port).
  int reserved_fd = -1;
  int port = 0;
  std::string bind_host = "0.0.0.0";
  // Synchronous mode: how long a Push waits for the other workers of its step.
  std::chrono::milliseconds sync_timeout{std::chrono::minutes(10)};
  // How long a Stop lets in-flight calls finish before cancelling them.
  std::chrono::milliseconds stop_grace{std::chrono::seconds(2)};
  // How old a call's token may be when this server reads it. A call is signed when it is
  // made; if this ps was paused (GC, swap, SIGSTOP) the call is read that much later, so the
  // window must exceed the longest pause the job tolerates. 0: the job's node_timeout
  // ($TOS_NODE_TIMEOUT_MS) plus 60 s for clock skew, and at least 120 s.
  std::chrono::seconds auth_window{0};
};

class PsServer {
 public:
  // Binds, starts serving and returns. Fails (with the bind address) if the port cannot be
  // bound or the options are invalid.
  static Result<std::unique_ptr<PsServer>> Start(const PsServerOptions& options);
  virtual ~PsServer() = default;

  virtual int port() const = 0;
  // Asks the server to stop (also what a Stop RPC does): calls in flight get stop_grace to
  // finish, waiting synchronous pushes are aborted. Returns at once; thread-safe.
  virtual void Stop() = 0;
  // Blocks until the server has stopped: OK, or Timeout after `timeout`.
  virtual Status Wait(std::chrono::milliseconds timeout) = 0;
  virtual int64_t global_step() const = 0;
  // Synchronous mode: the workers whose push of the current round is in (waiting for the
  // others'); 0 in asynchronous mode.
  virtual int pushes_waiting() const = 0;
};

}  // namespace tos::train
