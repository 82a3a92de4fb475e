// Data-parallel training by gradient averaging (Horovod / MultiWorkerMirroredStrategy style).
//
//   auto ar = GradientAllreducer::Create(collectives.get(), params).value();
//   ar->BroadcastParameters(0);            // every rank starts from the chief's values
//   loop: loss.backward(); ar->AverageGradients(); optimizer.step(); optimizer.zero_grad();
//
// Gradients are copied into a few flat float32 buckets (bucket_cap_bytes each, filled in
// parameter order; one bucket when the model is small), each bucket is summed with one
// collective and scaled by 1/size, and copied back. Buckets are allocated once. Any
// torch::optim optimizer works: every rank applies it to identical gradients, so parameters
// stay bit-identical across ranks (given the same libtorch build and thread settings).
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "tos/status.h"
#include "tos/train/collectives.h"
#include "tos/train/tcp_ring.h"

namespace tos::train {

struct AllreduceOptions {
  size_t bucket_cap_bytes = 25u << 20;
};

class GradientAllreducer {
 public:
  // params: float32, contiguous CPU tensors, the same list (order, shapes) on every rank.
  // `collectives` must outlive the allreducer.
  static Result<std::unique_ptr<GradientAllreducer>> Create(Collectives* collectives,
                                                            std::vector<torch::Tensor> params,
                                                            const AllreduceOptions& options = {});

  // Overwrites every parameter with root's values. Blocks until done on this rank.
  Status BroadcastParameters(int root = 0);
  // Replaces each parameter's gradient with the mean over all ranks (an undefined gradient
  // counts as zeros and becomes defined). Blocks until done on this rank.
  Status AverageGradients();

  size_t num_buckets() const { return buckets_.size(); }

 private:
  struct TensorBucket {
    Bucket plan;  // members are indices into params_
    torch::Tensor flat;
  };
  GradientAllreducer(Collectives* c, std::vector<torch::Tensor> params)
      : coll_(c), params_(std::move(params)) {}

  Collectives* coll_;
  std::vector<torch::Tensor> params_;
  std::vector<TensorBucket> buckets_;
};

}  // namespace tos::train
