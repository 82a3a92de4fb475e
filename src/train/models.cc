#include "tos/train/models.h"

#include <torch/nn/functional.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace tos::train {
namespace {

class Mlp : public Model {
 public:
  Mlp() {
    fc1_ = register_module("fc1", torch::nn::Linear(784, 128));
    fc2_ = register_module("fc2", torch::nn::Linear(128, 10));
  }
  torch::Tensor forward(const torch::Tensor& images) override {
    auto x = ScalePixels(images).reshape({-1, 784});
    return fc2_->forward(torch::relu(fc1_->forward(x)));
  }
  std::string type() const override { return "mlp"; }
  std::vector<int64_t> input_shape() const override { return {784}; }

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

class Cnn : public Model {
 public:
  Cnn() {
    conv1_ =
        register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)));
    conv2_ =
        register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
    fc1_ = register_module("fc1", torch::nn::Linear(64 * 7 * 7, 128));
    fc2_ = register_module("fc2", torch::nn::Linear(128, 10));
  }
  torch::Tensor forward(const torch::Tensor& images) override {
    auto x = ScalePixels(images).reshape({-1, 1, 28, 28});
    x = torch::max_pool2d(torch::relu(conv1_->forward(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2_->forward(x)), 2);
    x = torch::relu(fc1_->forward(x.reshape({x.size(0), -1})));
    return fc2_->forward(x);
  }
  std::string type() const override { return "cnn"; }
  std::vector<int64_t> input_shape() const override { return {1, 28, 28}; }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

}  // namespace

torch::Tensor ScalePixels(const torch::Tensor& images) {
  if (images.scalar_type() == torch::kUInt8) return images.to(torch::kFloat32).div_(255.0f);
  return images;
}

std::vector<std::string> ModelNames() { return {"mlp", "cnn"}; }

Result<std::shared_ptr<Model>> MakeModel(const std::string& name) {
  if (name == "mlp") return std::shared_ptr<Model>(std::make_shared<Mlp>());
  if (name == "cnn") return std::shared_ptr<Model>(std::make_shared<Cnn>());
  return NotFound("unknown model '" + name + "'; known models: mlp, cnn");
}

}  // namespace tos::train
