// Collective operations the allreduce trainer needs, behind an interface so that the
// transport can change: Gloo over TCP on CPUs (gloo_collectives.h), NCCL on GPUs.
//
// Every rank must make the same calls in the same order with tensors of the same shapes and
// dtypes. Calls block until the operation has completed on this rank (or failed, or timed
// out: the timeout is the implementation's, given when it was created). Not thread-safe.
#pragma once

#include <torch/types.h>

#include <vector>

#include "tos/status.h"

namespace tos::train {

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Each tensor (contiguous) is overwritten in place with root's.
  virtual Status Broadcast(torch::Tensor& tensor, int root) = 0;
  // In place elementwise sum over all ranks; every rank ends with bit-identical values.
  virtual Status AllreduceSum(torch::Tensor& tensor) = 0;
  virtual Status Barrier() = 0;
};

}  // namespace tos::train
