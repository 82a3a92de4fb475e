// Dealing this machine's GPUs to local nodes (ClusterOptions::gpus_per_node): which GPUs the
// driver sees, and which of them each node gets as its CUDA_VISIBLE_DEVICES. Private to
// src/cluster (and its tests).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tos/cluster_spec.h"
#include "tos/status.h"

namespace tos {

struct VisibleGpus {
  std::vector<std::string> ids;  // as CUDA_VISIBLE_DEVICES names them: indices or UUIDs
  std::string source;            // how they were found, for messages
};

// The ids of a CUDA_VISIBLE_DEVICES value: comma-separated, blanks trimmed, empty entries
// dropped. CUDA ignores everything from the first entry that starts with '-' ("-1" hides every
// GPU), and so does this.
std::vector<std::string> ParseCudaVisibleDevices(const std::string& value);

// "0", "1", ... for each "GPU <n>: ..." line of `nvidia-smi -L` output (MIG devices, listed
// under their GPU, are not counted apart).
std::vector<std::string> GpusFromNvidiaSmi(const std::string& output);

// The driver's GPUs: CUDA_VISIBLE_DEVICES when it is set (also when empty: none), else those
// `nvidia-smi -L` lists where it is on PATH (given `timeout` to answer), else none.
VisibleGpus FindVisibleGpus(std::chrono::milliseconds timeout);

// Every executor's CUDA_VISIBLE_DEVICES: the trainers (chief and workers, in executor order)
// get `per_node` GPUs each, in the order `gpus` lists them; ps and evaluator nodes get ""
// (none: they run on the CPU and take no memory on a trainer's GPU). InvalidArgument naming
// gpus_per_node, the GPUs it asks for and the GPUs visible when there are too few.
Result<std::vector<std::string>> DealGpus(const RoleLayout& layout, int per_node,
                                          const VisibleGpus& gpus);

}  // namespace tos
