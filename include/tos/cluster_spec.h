// Roles and the cluster spec: who is ps, chief, evaluator or worker, and where they listen.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tos/status.h"

namespace tos {

// {"ps": ["host:port", ...], "chief": [...], "worker": [...], "evaluator": [...]}
using ClusterSpec = std::map<std::string, std::vector<std::string>>;

struct RoleAssignment {
  std::string job_name;  // "ps", "chief", "evaluator" or "worker"
  int task_index = 0;
};

struct RoleLayout {
  int num_executors = 1;
  int num_ps = 0;
  bool chief = false;      // TFoS master_node
  bool evaluator = false;  // TFoS eval_node
};

// TFoS order: the first num_ps executors are ps, then one chief if asked, then one evaluator
// if asked, the rest workers. InvalidArgument if the layout leaves no worker or chief.
Status ValidateLayout(const RoleLayout& layout);
RoleAssignment RoleFor(const RoleLayout& layout, int executor_id);

// "worker:1" style label used in logs and errors.
std::string RoleLabel(const RoleAssignment& role);

std::string ClusterSpecToJson(const ClusterSpec& spec);
Result<ClusterSpec> ClusterSpecFromJson(const std::string& json);

}  // namespace tos
