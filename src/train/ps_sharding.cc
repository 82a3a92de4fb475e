#include <algorithm>
#include <numeric>

#include "tos/train/ps.h"

namespace tos::train {

std::vector<int> AssignShards(const std::vector<ParamInfo>& params, int num_shards) {
  std::vector<int> shard(params.size(), 0);
  if (num_shards <= 1) return shard;
  std::vector<size_t> order(params.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (params[a].numel != params[b].numel) return params[a].numel > params[b].numel;
    return params[a].name < params[b].name;
  });
  std::vector<int64_t> load(num_shards, 0);
  for (size_t i : order) {
    int best = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    shard[i] = best;
    load[best] += params[i].numel;
  }
  return shard;
}

Status ValidateOptimizerSpec(const OptimizerSpec& s) {
  if (s.type != "sgd" && s.type != "momentum" && s.type != "adagrad" && s.type != "adam") {
    return InvalidArgument("unknown optimizer '" + s.type +
                           "'; expected sgd, momentum, adagrad or adam");
  }
  if (!(s.learning_rate > 0)) return InvalidArgument("optimizer learning_rate must be > 0");
  if (s.type == "adagrad" && !(s.initial_accumulator > 0)) {
    return InvalidArgument("adagrad initial_accumulator must be > 0");
  }
  if (s.type == "adam" && !(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1)) {
    return InvalidArgument("adam betas must be in [0,1)");
  }
  return Status::OK();
}

}  // namespace tos::train
