// The environment a launcher gives each node: one typed definition that the driver writes
// (Cluster::Run, through its launcher, or the Spark bridge) and the node runner reads. The
// variables and their meaning are listed in docs/protocol.md ("The node's environment").
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "tos/context.h"
#include "tos/status.h"

namespace tos {

struct NodeEnv {
  // Set by the driver for every node.
  std::string reservation;  // TOS_RESERVATION: host:port of the driver's reservation server
  std::string secret;       // TOS_SECRET: the job's secret, 16 characters or more
  int num_executors = 0;    // TOS_NUM_EXECUTORS
  std::string log_dir;      // TOS_LOG_DIR: default <working_dir>/tos_logs
  std::string working_dir;  // TOS_WORKING_DIR: the driver's; default the node's own
  std::string default_fs = "file://";  // TOS_DEFAULT_FS: how absolute_path() resolves
  std::chrono::milliseconds reservation_timeout{600000};  // TOS_RESERVATION_TIMEOUT_MS
  std::chrono::milliseconds feed_timeout{600000};         // TOS_FEED_TIMEOUT_MS
  std::chrono::milliseconds heartbeat{1000};              // TOS_HEARTBEAT_MS
  std::chrono::milliseconds node_timeout{60000};          // TOS_NODE_TIMEOUT_MS
  InputMode input_mode = InputMode::kSpark;               // TOS_INPUT_MODE: "spark" or "tensorflow"
  int threads = 1;                                        // TOS_THREADS: intra-op and BLAS threads
  bool tensorboard = false;  // TOS_TENSORBOARD: "1" starts it on the chief
  // Optional: set by the driver when asked, or by the user through ClusterOptions::node_env.
  std::string host;                    // TOS_HOST: the address this node advertises
  std::string node_port;               // TOS_NODE_PORT: the reserved port, "N" or "N-M"
  std::string feed_port;               // TOS_FEED_PORT: the feed server's port, "N" or "N-M"
  size_t feed_queue_bytes = 64 << 20;  // TOS_FEED_QUEUE_BYTES: each feed's buffer
  int tensorboard_port = 0;            // TOS_TENSORBOARD_PORT: 0 picks a free one
  std::string tensorboard_logdir;      // TOS_TENSORBOARD_LOGDIR: default log_dir
  // Set by the Spark executor that starts the node.
  std::string node_log;  // TOS_NODE_LOG: where this node's output goes, named in failure reports
  long watch_pid = 0;    // TOS_WATCH_PID: the executor's pid; the node exits when it is gone
  // Per executor (LaunchSpec::executor_env).
  int executor_id = -1;  // TOS_EXECUTOR_ID

  // Every variable above that has a value, except TOS_EXECUTOR_ID (per executor).
  std::map<std::string, std::string> ToEnv() const;
  // From this process's environment: a variable that is absent takes the default above; one
  // that is malformed or out of range is InvalidArgument naming it and its value.
  // TOS_RESERVATION, TOS_SECRET and TOS_EXECUTOR_ID are required.
  static Result<NodeEnv> FromEnv();
};

}  // namespace tos
