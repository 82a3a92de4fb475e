#include "tos/cluster_spec.h"

#include <nlohmann/json.hpp>

namespace tos {

Status ValidateLayout(const RoleLayout& l) {
  if (l.num_executors < 1) return InvalidArgument("num_executors must be at least 1");
  if (l.num_ps < 0) return InvalidArgument("num_ps must not be negative");
  int trainers = l.num_executors - l.num_ps - (l.evaluator ? 1 : 0);
  if (trainers < 1) {
    return InvalidArgument("cluster of " + std::to_string(l.num_executors) + " executors with " +
                           std::to_string(l.num_ps) + " ps" +
                           (l.evaluator ? " and an evaluator" : "") +
                           " leaves no chief or worker; raise num_executors or lower num_ps");
  }
  return Status::OK();
}

RoleAssignment RoleFor(const RoleLayout& l, int id) {
  if (id < l.num_ps) return {"ps", id};
  int next = l.num_ps;
  if (l.chief) {
    if (id == next) return {"chief", 0};
    ++next;
  }
  if (l.evaluator) {
    if (id == next) return {"evaluator", 0};
    ++next;
  }
  return {"worker", id - next};
}

std::string RoleLabel(const RoleAssignment& r) {
  return r.job_name + ":" + std::to_string(r.task_index);
}

std::string ClusterSpecToJson(const ClusterSpec& spec) { return nlohmann::json(spec).dump(); }

Result<ClusterSpec> ClusterSpecFromJson(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    return j.get<ClusterSpec>();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed cluster spec JSON: ") + e.what());
  }
}

}  // namespace tos
