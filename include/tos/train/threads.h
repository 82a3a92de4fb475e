// Per-process thread settings for training.
//
// Several training processes often share one machine (one per Spark executor). If each lets
// libtorch and the BLAS library start one thread per core, they oversubscribe the cores and
// run several times slower; the default here is therefore one thread of each kind.
#pragma once

#include <string>

#include "tos/status.h"

namespace tos::train {

struct ThreadSettings {
  int intra_op = 0;           // libtorch intra-op threads now in effect
  int inter_op = 0;           // libtorch inter-op threads now in effect
  int blas = -1;              // BLAS threads now in effect; -1 when the BLAS has no such control
  bool inter_op_set = false;  // false when libtorch refused (inter-op pool already started)
  // OpenBLAS's kernel family (openblas_get_corename), empty for another BLAS. OpenBLAS picks
  // it when loaded; on CPUs it does not recognise (some VMs) it falls back to "Prescott"
  // (SSE3) and GEMM runs several times slower. OPENBLAS_CORETYPE=SkylakeX / Haswell in the
  // environment of the process overrides the choice (it must be set before the process starts).
  std::string blas_core;
};

// Sets libtorch's intra-op threads (torch::set_num_threads), its inter-op threads (only
// possible before the inter-op pool first runs; later attempts are skipped, not errors) and
// OpenBLAS's threads (openblas_set_num_threads, looked up with dlsym so any loaded BLAS
// works; a BLAS without it is left alone). intra_op_threads < 1 is InvalidArgument.
// Call it early, from the main thread, before training starts. Does not block.
Result<ThreadSettings> ConfigureThreads(int intra_op_threads = 1);

}  // namespace tos::train
