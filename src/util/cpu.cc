#include "util/cpu.h"

#include <fstream>
#include <set>
#include <sstream>

namespace tos {

std::string OpenBlasCoreTypeForThisCpu() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) flags.insert(w);
    break;
  }
  auto has = [&](std::initializer_list<const char*> names) {
    for (auto* n : names)
      if (!flags.count(n)) return false;
    return true;
  };
  if (has({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma", "avx2"}))
    return "SkylakeX";
  if (has({"avx2", "fma"})) return "Haswell";
  return "";
}

}  // namespace tos
