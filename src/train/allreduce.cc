#include "tos/train/allreduce.h"

#include <cstring>

#include "tos/train/gloo_collectives.h"

namespace tos::train {

Result<std::unique_ptr<GradientAllreducer>> GradientAllreducer::Create(
    Collectives* collectives, std::vector<torch::Tensor> params, const AllreduceOptions& options) {
  if (collectives == nullptr) return InvalidArgument("GradientAllreducer: no collectives");
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    if (p.scalar_type() != torch::kFloat32 || !p.is_contiguous() || !p.device().is_cpu()) {
      return InvalidArgument("GradientAllreducer: parameter " + std::to_string(i) +
                             " must be a contiguous float32 CPU tensor");
    }
  }
  std::unique_ptr<GradientAllreducer> ar(new GradientAllreducer(collectives, std::move(params)));
  std::vector<int64_t> numels;
  for (const auto& p : ar->params_) numels.push_back(p.numel());
  for (Bucket& plan : PlanBuckets(numels, options.bucket_cap_bytes)) {
    torch::Tensor flat = torch::empty({plan.numel}, torch::kFloat32);
    ar->buckets_.push_back({std::move(plan), std::move(flat)});
  }
  return ar;
}

Status GradientAllreducer::BroadcastParameters(int root) {
  torch::NoGradGuard no_grad;
  for (TensorBucket& tb : buckets_) {
    const Bucket& b = tb.plan;
    float* flat = tb.flat.data_ptr<float>();
    for (size_t k = 0; k < b.members.size(); ++k) {
      const auto& p = params_[b.members[k]];
      std::memcpy(flat + b.offsets[k], p.data_ptr<float>(), p.numel() * sizeof(float));
    }
    TOS_RETURN_IF_ERROR(
        coll_->Broadcast(tb.flat, root).WithContext("broadcasting initial parameters"));
    for (size_t k = 0; k < b.members.size(); ++k) {
      auto& p = params_[b.members[k]];
      std::memcpy(p.data_ptr<float>(), flat + b.offsets[k], p.numel() * sizeof(float));
    }
  }
  return Status::OK();
}

Status GradientAllreducer::AverageGradients() {
  torch::NoGradGuard no_grad;
  const float scale = 1.0f / static_cast<float>(coll_->size());
  for (TensorBucket& tb : buckets_) {
    const Bucket& b = tb.plan;
    float* flat = tb.flat.data_ptr<float>();
    for (size_t k = 0; k < b.members.size(); ++k) {
      auto& p = params_[b.members[k]];
      const auto& g = p.grad();
      float* dst = flat + b.offsets[k];
      if (g.defined()) {
        torch::Tensor gc = g.is_contiguous() ? g : g.contiguous();
        std::memcpy(dst, gc.data_ptr<float>(), p.numel() * sizeof(float));
      } else {
        std::memset(dst, 0, p.numel() * sizeof(float));
      }
    }
    if (coll_->size() > 1) {
      TOS_RETURN_IF_ERROR(coll_->AllreduceSum(tb.flat).WithContext("averaging gradients"));
      const int64_t n = tb.flat.numel();
      for (int64_t i = 0; i < n; ++i) flat[i] *= scale;
    }
    for (size_t k = 0; k < b.members.size(); ++k) {
      auto& p = params_[b.members[k]];
      if (!p.grad().defined() || !p.grad().is_contiguous()) p.mutable_grad() = torch::empty_like(p);
      std::memcpy(p.grad().data_ptr<float>(), flat + b.offsets[k], p.numel() * sizeof(float));
    }
  }
  return Status::OK();
}

#ifndef TOS_HAVE_GLOO
Result<std::unique_ptr<Collectives>> CreateGlooCollectives(const c10::intrusive_ptr<c10d::Store>&,
                                                           const GlooOptions&) {
  return Unimplemented("this build of tos_train has no c10d Gloo support");
}
#endif

}  // namespace tos::train
