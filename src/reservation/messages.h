// JSON payloads of the reservation/control channel (docs/protocol.md). Parsing is strict:
// unknown types or missing fields are errors, never undefined behaviour.
#pragma once

#include <string>

#include "tos/cluster_spec.h"

namespace tos::reservation {

struct Registration {
  int executor_id = -1;
  std::string host;   // advertised host of the node
  int port = 0;       // the node's reserved port (training traffic)
  int feed_port = 0;  // the node's feed server
  int pid = 0;
  std::string instance;  // random per node process; a retried registration repeats it
  std::string log;       // the node's log file when its launcher keeps none (a Spark task)
};

std::string EncodeRegistration(const Registration& r);
Result<Registration> DecodeRegistration(const std::string& payload);

struct ClusterReply {
  ClusterSpec cluster;
  std::string job_name;
  int task_index = 0;
  int num_executors = 0;
  // executor_id -> "host:feed_port" (for feeders that run beside the driver)
  std::map<int, std::string> feed_addresses;
};

std::string EncodeClusterReply(const ClusterReply& r);
Result<ClusterReply> DecodeClusterReply(const std::string& payload);

}  // namespace tos::reservation
