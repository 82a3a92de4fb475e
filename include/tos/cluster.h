// The driver: reserves a cluster of nodes, feeds them, runs inference, shuts them down.
//
// Every call returns a Status; once any node fails, every call returns that node's failure
// (executor id, role, host, exit status or signal, last log lines) and all nodes are
// stopped within seconds. Call from one thread (the main thread: local nodes are tied to
// the thread that launched them).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tos/cluster_spec.h"
#include "tos/context.h"
#include "tos/launcher.h"
#include "tos/record_source.h"

namespace tos {

struct ClusterOptions {
  int num_executors = 1;
  int num_ps = 0;
  bool master_node = false;  // one "chief" after the ps nodes
  bool eval_node = false;    // one "evaluator" after the chief
  InputMode input_mode = InputMode::kSpark;
  bool tensorboard = false;          // the chief (or worker 0) starts TensorBoard on log_dir
  std::string log_dir = "tos_logs";  // node logs (<role>-<index>.log) and TensorBoard files

  std::chrono::seconds reservation_timeout{600};
  std::chrono::seconds feed_timeout{600};
  std::chrono::seconds stall_warning{60};  // warn when a trainer makes no progress this long
  std::chrono::milliseconds heartbeat_interval{1000};
  // A node that sends no heartbeat for this long (stopped, frozen, its host unreachable) fails
  // the job, named with its role and host; a node gives up on a driver silent this long. A
  // shorter pause (GC, swap, a slow disk) passes without an error.
  std::chrono::seconds node_timeout{60};
  std::chrono::seconds kill_grace{3};  // after a failure: STOP, then SIGKILL after this

  std::string secret;        // empty: a fresh random secret per job
  std::string server_host;   // advertised reservation host; default $TOS_SERVER_HOST
  std::string server_port;   // "9997" or "9997-9999"; default $TOS_SERVER_PORT, else any
  std::string node_port;     // nodes' reserved port range; default $TOS_NODE_PORT, else any
  std::string feed_port;     // nodes' feed server port range; default $TOS_FEED_PORT, else any
  int threads_per_node = 1;  // intra-op and BLAS threads in each node
  // Local launcher only: deals the GPUs the driver sees (its CUDA_VISIBLE_DEVICES if set, else
  // those `nvidia-smi -L` lists, else none) to the trainers (chief, workers), this many each in
  // executor order, as each one's CUDA_VISIBLE_DEVICES; ps and evaluator nodes get none. Run
  // fails at once, naming it and how many GPUs are visible, when there are too few. 0: the
  // nodes keep the driver's CUDA_VISIBLE_DEVICES. Default $TOS_GPUS_PER_NODE, else 0. On
  // Spark, GPUs are Spark's to give (spark.task.resource.gpu.amount): ignored there.
  int gpus_per_node = 0;

  std::string program;                 // default: this executable
  std::vector<std::string> node_args;  // default: tos::ProgramArgs()
  std::map<std::string, std::string> node_env;
  std::shared_ptr<Launcher> launcher;  // default: MakeLocalLauncher()
  bool echo_node_output = true;
};

class Cluster {
 public:
  struct Impl;
  // Starts the reservation server (printing "reservation server at HOST:PORT"), launches the
  // nodes and waits until all registered (or reservation_timeout, naming who is missing).
  static Result<std::unique_ptr<Cluster>> Run(ClusterOptions options);
  ~Cluster();  // stops any node still running

  const ClusterSpec& cluster_spec() const;

  // Feeds `data` `epochs` times to the chief and workers' feed `feed` (partitions spread
  // over them), then ends the feed. Returns when all data was delivered or the trainers
  // terminated their feeds. Several named feeds are fed concurrently by TrainFeeds.
  Status Train(const RecordSource& data, int epochs = 1, const std::string& feed = "input");
  struct NamedFeed {
    std::string name;
    const RecordSource* data = nullptr;
    int epochs = 1;
  };
  Status TrainFeeds(const std::vector<NamedFeed>& feeds);

  // Feeds each partition to one trainer and writes its results to output_dir/part-NNNNN
  // (one line per input record, in order), then _SUCCESS. Refuses an output directory that
  // already holds a dataset unless overwrite.
  Status Inference(const RecordSource& data, const std::string& output_dir,
                   const std::string& feed = "input", bool overwrite = false);

  // Waits for the trainers to finish (up to timeout), waits grace, stops ps and evaluator
  // nodes, reaps every process. OK only if every node succeeded.
  Status Shutdown(std::chrono::seconds grace = std::chrono::seconds(0),
                  std::chrono::seconds timeout = std::chrono::hours(72));

  // TensorBoard's URL once the chief (or worker 0) started it, else empty.
  std::string tensorboard_url() const;
  // Everything the nodes reported by name: "TensorBoard" (its URL), or "TensorBoard command"
  // (what to run when it could not be started). Heartbeats carry them, so they arrive within
  // a heartbeat interval of the node's start.
  std::map<std::string, std::string> urls() const;
  Status status() const;  // the first failure, or OK

  // Fails the job with `why` (if it has not failed yet): every node is told to stop, and
  // Shutdown() returns it. For embedders whose own side failed (the Spark bridge).
  void Abort(const Status& why);

  struct NodeInfo {
    int executor_id = 0;
    RoleAssignment role;
    std::string host;
    int port = 0;           // reserved (training traffic)
    int feed_port = 0;      // feed server
    bool finished = false;  // reported NODE_DONE or exited
  };
  // Every registered node, by executor id (after Run returned).
  std::vector<NodeInfo> nodes() const;

 private:
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tos
