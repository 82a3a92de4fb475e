#include "tos/train/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

namespace tos::train {
namespace {

using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();

// OpenBLAS exports these from libopenblas.so and from its libblas.so.3 alternative.
int SetBlasThreads(int n) {
  auto set = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set == nullptr)
    set = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "goto_set_num_threads"));
  if (set == nullptr) return -1;
  set(n);
  auto get = reinterpret_cast<GetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : n;
}

std::string BlasCoreName() {
  using CoreNameFn = char* (*)();
  auto fn = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = fn != nullptr ? fn() : nullptr;
  return name != nullptr ? name : "";
}

}  // namespace

Result<ThreadSettings> ConfigureThreads(int intra_op_threads) {
  if (intra_op_threads < 1) {
    return InvalidArgument("ConfigureThreads: intra_op_threads must be >= 1, got " +
                           std::to_string(intra_op_threads));
  }
  ThreadSettings s;
  at::set_num_threads(intra_op_threads);
  s.intra_op = at::get_num_threads();
  try {
    at::set_num_interop_threads(intra_op_threads);
    s.inter_op_set = true;
  } catch (const std::exception&) {
    // libtorch allows this once per process and only before the inter-op pool has started.
  }
  s.inter_op = at::get_num_interop_threads();
  s.blas = SetBlasThreads(intra_op_threads);
  s.blas_core = BlasCoreName();
  return s;
}

}  // namespace tos::train
