#include "tos/train/cuda.h"

#include <ATen/Context.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>

namespace tos::train {

Status LoadTorchCuda() {
  static std::mutex mu;
  static Status loaded = Internal("not tried");
  static bool tried = false;
  std::lock_guard<std::mutex> lock(mu);
  if (tried) return loaded;
  tried = true;
  // The folder of libtorch_cpu.so: the library that holds at::globalContext.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&at::globalContext), &info) == 0 ||
      info.dli_fname == nullptr) {
    loaded = Internal("cannot tell where libtorch_cpu.so was loaded from");
    return loaded;
  }
  std::string dir(info.dli_fname);
  dir = dir.substr(0, dir.find_last_of('/') + 1);
  const std::string path = dir + "libtorch_cuda.so";
  if (access(path.c_str(), R_OK) != 0) {
    loaded = NotFound("this libtorch has no CUDA (no libtorch_cuda.so in " + dir + ")");
    return loaded;
  }
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    const char* why = dlerror();
    loaded = Unavailable("libtorch's CUDA library " + path +
                         " does not load: " + (why != nullptr ? why : "unknown error"));
    return loaded;
  }
  loaded = Status::OK();
  return loaded;
}

bool MayHaveGpu() {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (visible != nullptr && (*visible == '\0' || std::string(visible) == "-1")) return false;
  return access("/dev/nvidiactl", F_OK) == 0 || access("/dev/nvidia0", F_OK) == 0;
}

}  // namespace tos::train
