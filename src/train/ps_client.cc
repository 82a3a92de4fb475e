#include "tos/train/ps_client.h"

#include <torch/nn/module.h>

#include <cstring>

namespace tos::train {
namespace {

NamedArray ToArray(const std::string& name, const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous().cpu();
  NamedArray a;
  a.name = name;
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  a.values.resize(static_cast<size_t>(c.numel()));
  std::memcpy(a.values.data(), c.data_ptr<float>(), a.values.size() * sizeof(float));
  return a;
}

torch::Tensor ToTensor(const NamedArray& a) {
  auto t = torch::empty(a.shape, torch::kFloat32);
  std::memcpy(t.data_ptr<float>(), a.values.data(),
              std::min<size_t>(a.values.size(), t.numel()) * sizeof(float));
  return t;
}

class PsClientImpl : public PsClient {
 public:
  PsClientImpl(NamedTensors params, std::unique_ptr<PsBufferClient> c)
      : params_(std::move(params)), client_(std::move(c)) {}

  Status Initialize(const OptimizerSpec& spec, const PsState* restore) override {
    if (restore == nullptr) return client_->Initialize(spec, nullptr);
    PsSnapshot snap;
    snap.optimizer = restore->optimizer;
    snap.global_step = restore->global_step;
    for (const auto& [name, t] : restore->params) snap.params.push_back(ToArray(name, t));
    for (const auto& [name, t] : restore->slots) snap.slots.push_back(ToArray(name, t));
    return client_->Initialize(spec, &snap);
  }
  Status WaitInitialized(std::chrono::milliseconds timeout) override {
    return client_->WaitInitialized(timeout);
  }
  Status Pull() override { return client_->Pull(); }

  Status PushGradients(bool pull_after) override {
    // Gradients that are not contiguous are sent from a contiguous copy, kept alive here.
    std::vector<torch::Tensor> copies;
    std::vector<const float*> grads(params_.size(), nullptr);
    for (size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor& g = params_[i].second.grad();
      if (!g.defined()) continue;
      if (g.scalar_type() != torch::kFloat32 || !g.is_contiguous() || !g.device().is_cpu()) {
        copies.push_back(g.to(torch::kFloat32).contiguous().cpu());
        grads[i] = copies.back().data_ptr<float>();
      } else {
        grads[i] = g.data_ptr<float>();
      }
    }
    return client_->PushGradients(grads, pull_after);
  }
  int64_t global_step() const override { return client_->global_step(); }

  Result<PsState> GetState() override {
    TOS_ASSIGN_OR_RETURN(PsSnapshot snap, client_->GetState());
    PsState state;
    state.optimizer = snap.optimizer;
    state.global_step = snap.global_step;
    for (const auto& a : snap.params) state.params.emplace_back(a.name, ToTensor(a));
    for (const auto& a : snap.slots) state.slots.emplace_back(a.name, ToTensor(a));
    return state;
  }
  Status Leave() override { return client_->Leave(); }
  Status StopServers() override { return client_->StopServers(); }

 private:
  NamedTensors params_;  // the tensors whose storage the buffer client reads and writes
  std::unique_ptr<PsBufferClient> client_;
};

}  // namespace

Result<std::unique_ptr<PsClient>> PsClient::Create(const PsClientOptions& options,
                                                   NamedTensors params) {
  std::vector<ParamBuffer> buffers;
  for (const auto& [name, t] : params) {
    if (t.scalar_type() != torch::kFloat32 || !t.is_contiguous() || !t.device().is_cpu()) {
      return InvalidArgument("PsClient: parameter '" + name +
                             "' must be a contiguous float32 CPU tensor");
    }
    buffers.push_back(
        {name, t.data_ptr<float>(), std::vector<int64_t>(t.sizes().begin(), t.sizes().end())});
  }
  TOS_ASSIGN_OR_RETURN(auto client, PsBufferClient::Create(options, std::move(buffers)));
  return std::unique_ptr<PsClient>(
      std::make_unique<PsClientImpl>(std::move(params), std::move(client)));
}

NamedTensors NamedParameters(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    out.emplace_back(item.key(), item.value());
  return out;
}

}  // namespace tos::train
