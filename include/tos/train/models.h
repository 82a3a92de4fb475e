// The models tos_train knows by name, as torch::nn modules.
//
//   mlp  784 -> 128 ReLU -> 10 (the TensorFlowOnSpark MNIST network); parameters fc1.*, fc2.*
//   cnn  conv3x3(32) ReLU maxpool2 -> conv3x3(64) ReLU maxpool2 -> 128 ReLU -> 10
//
// Both take a batch of 28x28 single-channel images: uint8 pixels (scaled to [0,1] here) or
// float already in [0,1], shaped [B,784], [B,28,28] or [B,1,28,28]; they return logits [B,10]
// (apply log_softmax / cross_entropy outside). Modules are not thread-safe; one per thread.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "tos/status.h"

namespace tos::train {

class Model : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
  // The name MakeModel accepts for this model ("mlp", "cnn").
  virtual std::string type() const = 0;
  // Shape of one example the model accepts in export metadata, e.g. {784} or {1,28,28}.
  virtual std::vector<int64_t> input_shape() const = 0;
};

// Creates a freshly initialised model by name; NotFound for an unknown name.
Result<std::shared_ptr<Model>> MakeModel(const std::string& name);
std::vector<std::string> ModelNames();

// uint8 pixels -> float32 in [0,1]; float input is returned unchanged.
torch::Tensor ScalePixels(const torch::Tensor& images);

}  // namespace tos::train
