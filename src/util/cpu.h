// CPU facts that change how fast nodes train.
#pragma once

#include <string>

namespace tos {

// The OpenBLAS kernel family this CPU supports, for OPENBLAS_CORETYPE: "SkylakeX" (AVX-512
// F/CD/BW/DQ/VL), "Haswell" (AVX2 + FMA), or "" to let OpenBLAS decide. OpenBLAS picks its
// slowest kernels (Prescott) on CPUs it does not recognise by model, such as virtual CPUs
// named "Intel Xeon Processor"; naming the family from the CPU's flags avoids that (about
// 2x faster training measured on such a machine).
std::string OpenBlasCoreTypeForThisCpu();

}  // namespace tos
