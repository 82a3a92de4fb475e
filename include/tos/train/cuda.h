// libtorch's CUDA library, loaded when a program asks for a GPU. Programs built on tos_train
// link only libtorch's CPU libraries (libtorch_cpu, libc10): a wheel's libtorch_cuda.so and the
// CUDA libraries it needs are about 1.5 GB, which every process would map and initialise at
// start-up (about 0.3 GB more resident memory per node here) though most nodes of most jobs never
// use a GPU. LoadTorchCuda loads it from beside libtorch_cpu.so, the way `import torch` does.
//
// Call it before anything asks libtorch about CUDA (torch::cuda::is_available(), a seed, a
// tensor on a device): libtorch remembers the first answer. Thread-safe; loading twice is a
// no-op.
#pragma once

#include "tos/status.h"

namespace tos::train {

// OK once libtorch's CUDA library is loaded (or linked already); NotFound when this libtorch
// has none (a CPU-only build), naming the folder looked in; Unavailable when it is there but
// cannot load (a missing CUDA runtime library), with the loader's message.
Status LoadTorchCuda();

// Whether this machine may have a GPU for this process: an NVIDIA driver's device files
// exist and CUDA_VISIBLE_DEVICES does not hide every device. A cheap test, made without
// loading CUDA; true does not promise a usable device (torch::cuda::is_available() says).
bool MayHaveGpu();

}  // namespace tos::train
