// What a node's map_fun sees: who it is in the cluster, where the others are, its reserved
// port and its data feeds. Created by the node runner (tos::Main) before map_fun runs; valid
// until map_fun returns. Accessors are thread-safe; the throwing calls throw tos::Error.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "tos/cluster_spec.h"
#include "tos/data_feed.h"

namespace tos {

enum class InputMode {
  kSpark,       // the driver streams data into each node's feeds (TFoS InputMode.SPARK)
  kTensorflow,  // each node reads its own shard of the files (TFoS InputMode.TENSORFLOW)
};

// The port reserved for this node's training traffic (parameter server, collectives). It is
// held as a bound, non-listening socket with SO_REUSEPORT from registration on, so no other
// process can take it: a server in this process binds the same port, then calls Release().
class ReservedPort {
 public:
  ReservedPort(std::string host, int port, int fd) : host_(std::move(host)), port_(port), fd_(fd) {}
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  int fd() const { return fd_; }
  int TakeFd();    // the caller now owns the socket; -1 if already taken or released
  void Release();  // closes the held socket (after your server has bound the port)

 private:
  std::string host_;
  int port_;
  int fd_;
};

class Context {
 public:
  struct State;  // defined by the node runner
  explicit Context(std::shared_ptr<State> state);
  ~Context();

  int executor_id() const;
  const std::string& job_name() const;  // "ps", "chief", "worker" or "evaluator"
  int task_index() const;
  const ClusterSpec& cluster_spec() const;  // also in $TOS_CLUSTER_SPEC as JSON
  int num_executors() const;
  int num_workers() const;   // chief + workers: the nodes that train
  int worker_index() const;  // this node's index among them (chief first); -1 for ps/evaluator
  bool is_chief() const;     // the chief, or worker 0 when there is no chief
  InputMode input_mode() const;
  const std::string& default_fs() const;  // "file://" or "hdfs://namenode:port"
  const std::string& working_dir() const;
  const std::string& log_dir() const;
  int threads() const;  // intra-op threads this node should use (default 1)

  // TFoS rules: a path with a scheme is returned unchanged; otherwise it resolves against
  // default_fs: hdfs://nn/user/<user>/<path> (or hdfs://nn/<path> if absolute) on HDFS,
  // file://<working_dir>/<path> (or file://<path>) locally.
  std::string absolute_path(const std::string& path) const;

  ReservedPort& reserved_port();

  // The named feed (created on first use). Feeds exist in both input modes; in
  // InputMode::kTensorflow nothing is sent to them unless the driver feeds them explicitly.
  DataFeed& data_feed(const std::string& name = "input");

  // For ps and evaluator nodes: blocks until the driver sends STOP (true) or the timeout
  // passes (false).
  bool WaitForStop(std::chrono::milliseconds timeout) const;
  bool stop_requested() const;

  // What this node is doing, shown in heartbeats and stall warnings ("training step 120").
  void SetStatus(const std::string& what);
  // Counts progress for stall detection (next_batch() counts automatically).
  void ReportProgress(uint64_t units = 1);

  // The "all trainers done" barrier. Every trainer (chief and workers) calls it once after its
  // last update; each call blocks until all num_workers() trainers have called it with the same
  // name, or `timeout` passes (tos::Error kTimeout saying how many arrived). Typical use: the
  // chief saves the final checkpoint and export after WaitForTrainers("training done"), so they
  // hold every trainer's last update, not only its own. Each name is one barrier per job. A
  // failed trainer fails the job, which ends the wait (kAborted/kUnavailable). ps and evaluator
  // nodes may not call it (kInvalidArgument). Thread-safe; blocks on the driver's store.
  void WaitForTrainers(const std::string& name, std::chrono::milliseconds timeout);

  // Where the driver's rendezvous store listens, and the job secret (for collectives).
  std::string reservation_address() const;
  const std::string& secret() const;

  // Reports a URL (e.g. TensorBoard's) to the driver, which prints it.
  void ReportUrl(const std::string& name, const std::string& url);

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tos
