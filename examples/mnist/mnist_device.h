// --device for the MNIST trainers: the device they compute on, and how a model on a CUDA device
// meets the runtime's parameter-server client and allreduce ring, which work on float32 CPU
// tensors: a copy of the parameters in pinned host memory is the parameters of record (the ps
// client's and the ring's tensors, and the allreduce optimizer's), and the device's parameters
// are its replica, refreshed after every update. Header-only (the program lists its sources).
#pragma once

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mnist_batches.h"
#include "tos/status.h"
#include "tos/train/cuda.h"
#include "tos/train/ps_client.h"

namespace mnist {

// OK when this process can compute on a CUDA device, else why not, naming --device and what
// is missing: CUDA in this libtorch, or a device it can see.
inline tos::Status CudaUsable() {
  // The program links libtorch's CPU libraries only: its CUDA library is loaded here.
  if (tos::Status loaded = tos::train::LoadTorchCuda(); !loaded.ok()) {
    if (loaded.code() != tos::StatusCode::kNotFound) {
      return tos::Unavailable("--device cuda: " + loaded.message() +
                              "; use --device cpu or auto, or install the CUDA libraries of "
                              "this torch (the nvidia-* packages its wheel depends on)");
    }
  }
  // libtorch's CUDA library registers the CUDA device guard when it loads; a CPU-only build
  // has none.
  if (!c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA)) {
    return tos::Unimplemented(
        "--device cuda: this libtorch has no CUDA (a CPU-only build); use --device cpu or auto, "
        "or build mnist_spark against a CUDA libtorch");
  }
  if (!torch::cuda::is_available()) {
    const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
    const std::string seen = v == nullptr ? "CUDA_VISIBLE_DEVICES is not set"
                             : *v == '\0' ? "CUDA_VISIBLE_DEVICES is empty"
                                          : std::string("CUDA_VISIBLE_DEVICES=") + v;
    return tos::Unavailable("--device cuda: no CUDA device visible (" + seen +
                            "); use --device cpu or auto, or run where a GPU is (on Spark: "
                            "spark.task.resource.gpu.amount; locally: --gpus_per_node)");
  }
  return tos::Status::OK();
}

// --device as a torch::Device: "cpu"; "cuda" (cuda:0, the first GPU this process sees; an error
// from CudaUsable without one); "auto" (cuda where CudaUsable, else cpu).
inline tos::Result<torch::Device> ResolveDevice(const std::string& flag) {
  if (flag == "cpu") return torch::Device(torch::kCPU);
  // auto on a machine without a GPU driver: CPU, without loading CUDA at all.
  if (flag == "auto" && !tos::train::MayHaveGpu()) return torch::Device(torch::kCPU);
  tos::Status cuda = CudaUsable();
  if (flag == "auto") {
    return cuda.ok() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (flag != "cuda") {
    return tos::InvalidArgument("--device must be auto, cpu or cuda, not '" + flag + "'");
  }
  if (!cuda.ok()) return cuda;
  return torch::Device(torch::kCUDA, 0);
}

// Batches of another source, moved to `device` (the images as uint8: a quarter of the bytes).
class DeviceBatches : public BatchSource {
 public:
  DeviceBatches(std::unique_ptr<BatchSource> inner, torch::Device device)
      : inner_(std::move(inner)), device_(device) {}
  bool Next(size_t n, torch::Tensor* images, torch::Tensor* labels) override {
    if (!inner_->Next(n, images, labels)) return false;
    *images = images->to(device_);
    *labels = labels->to(device_);
    return true;
  }
  void Stop() override { inner_->Stop(); }

 private:
  std::unique_ptr<BatchSource> inner_;
  torch::Device device_;
};

// Pinned host copies of a module's parameters (and gradient buffers) while the module is on a
// CUDA device. The host copies are what the ps client and the ring read and write.
class HostStaging {
 public:
  // Copies the module's current values (on any device) to the host.
  explicit HostStaging(torch::nn::Module& module) {
    for (auto& p : module.named_parameters(true)) {
      device_.push_back(p.value());
      torch::Tensor host = torch::empty(p.value().sizes(), Pinned());
      host.copy_(p.value().detach());
      host.mutable_grad() = torch::zeros(p.value().sizes(), Pinned());
      host_.emplace_back(p.key(), host);
    }
  }

  // The host tensors by name (PsClient::Create), and as a list (the ring, an optimizer).
  const tos::train::NamedTensors& named() const { return host_; }
  std::vector<torch::Tensor> tensors() const {
    std::vector<torch::Tensor> out;
    for (auto& [name, t] : host_) out.push_back(t);
    return out;
  }

  // Device gradients into the host gradients (zeros where a gradient is undefined). Returns
  // once they are there: a copy to the host waits for the device's queued work.
  void GradientsToHost() {
    for (size_t i = 0; i < host_.size(); ++i) {
      torch::Tensor& hg = host_[i].second.mutable_grad();
      if (!hg.defined()) hg = torch::empty(host_[i].second.sizes(), Pinned());
      const torch::Tensor& g = device_[i].grad();
      if (g.defined()) {
        hg.copy_(g);
      } else {
        hg.zero_();
      }
    }
  }

  // Host values into the device parameters. Queued on the device (later kernels see them); the
  // host copies must not change before the next GradientsToHost, which waits for the queue.
  void ValuesToDevice() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < host_.size(); ++i) device_[i].copy_(host_[i].second, true);
  }

  // Device values into the host copies (after restoring a checkpoint into the module).
  void ValuesToHost() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < host_.size(); ++i) host_[i].second.copy_(device_[i].detach());
  }

 private:
  static torch::TensorOptions Pinned() {
    return torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(true);
  }

  std::vector<torch::Tensor> device_;  // the module's parameters (share their storage)
  tos::train::NamedTensors host_;
};

}  // namespace mnist
