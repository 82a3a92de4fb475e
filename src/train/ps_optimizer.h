// Optimizer updates the parameter server applies to the float32 values of its shard.
// The formulas are TensorFlow's (docs/training.md, "Optimizers on the ps").
#pragma once

#include <string>
#include <vector>

#include "tos/train/ps.h"

namespace tos::train {

// Names of the optimizer state kept per parameter, in a fixed order; sizes are numel of the
// parameter except adam's beta1_power / beta2_power, which have one element.
std::vector<std::string> SlotNames(const OptimizerSpec& spec);
int64_t SlotSize(const std::string& slot, int64_t numel);
// Fresh state for one slot of a parameter with numel elements.
std::vector<float> InitialSlot(const OptimizerSpec& spec, const std::string& slot, int64_t numel);

// w -= update(scale * g), slots updated in place; slots in SlotNames order.
void ApplyUpdate(const OptimizerSpec& spec, float* w, const float* g, float scale, int64_t n,
                 std::vector<std::vector<float>>* slots);

}  // namespace tos::train
