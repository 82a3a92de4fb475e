#include "train/ps_optimizer.h"

#include <cmath>

namespace tos::train {

std::vector<std::string> SlotNames(const OptimizerSpec& spec) {
  if (spec.type == "momentum") return {"momentum"};
  if (spec.type == "adagrad") return {"accumulator"};
  if (spec.type == "adam") return {"m", "v", "beta1_power", "beta2_power"};
  return {};
}

int64_t SlotSize(const std::string& slot, int64_t numel) {
  return (slot == "beta1_power" || slot == "beta2_power") ? 1 : numel;
}

std::vector<float> InitialSlot(const OptimizerSpec& spec, const std::string& slot, int64_t numel) {
  if (slot == "accumulator")
    return std::vector<float>(numel, static_cast<float>(spec.initial_accumulator));
  if (slot == "beta1_power") return {static_cast<float>(spec.beta1)};
  if (slot == "beta2_power") return {static_cast<float>(spec.beta2)};
  return std::vector<float>(numel, 0.0f);
}

// Cloned for AVX-512/AVX2 (picked at load time): the ps spends most of its CPU time here.
__attribute__((target_clones("avx512f", "avx2", "default"))) void ApplyUpdate(
    const OptimizerSpec& spec, float* w, const float* g, float scale, int64_t n,
    std::vector<std::vector<float>>* slots) {
  const float lr = static_cast<float>(spec.learning_rate);
  if (spec.type == "sgd") {
    const float k = lr * scale;
    for (int64_t i = 0; i < n; ++i) w[i] -= k * g[i];
  } else if (spec.type == "momentum") {
    const float mu = static_cast<float>(spec.momentum);
    float* a = (*slots)[0].data();
    for (int64_t i = 0; i < n; ++i) {
      const float gi = scale * g[i];
      a[i] = a[i] * mu + gi;
      w[i] -= spec.nesterov ? lr * (gi + mu * a[i]) : lr * a[i];
    }
  } else if (spec.type == "adagrad") {
    float* a = (*slots)[0].data();
    for (int64_t i = 0; i < n; ++i) {
      const float gi = scale * g[i];
      a[i] += gi * gi;
      w[i] -= lr * gi / std::sqrt(a[i]);
    }
  } else if (spec.type == "adam") {
    float* m = (*slots)[0].data();
    float* v = (*slots)[1].data();
    float& b1p = (*slots)[2][0];
    float& b2p = (*slots)[3][0];
    const float b1 = static_cast<float>(spec.beta1), b2 = static_cast<float>(spec.beta2);
    const float eps = static_cast<float>(spec.epsilon);
    const float lr_t = lr * std::sqrt(1.0f - b2p) / (1.0f - b1p);
    for (int64_t i = 0; i < n; ++i) {
      const float gi = scale * g[i];
      m[i] += (gi - m[i]) * (1.0f - b1);
      v[i] += (gi * gi - v[i]) * (1.0f - b2);
      w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
    }
    b1p *= b1;
    b2p *= b2;
  }
}

}  // namespace tos::train
