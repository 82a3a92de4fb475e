// Helpers shared by the libFuzzer targets: an in-memory file system for parsers that read
// through tos::FileSystem, and a sink that keeps the compiler from dropping decoded values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "io/memory_fs.h"
#include "tos/fs.h"

namespace tos::fuzz {

// The "fuzz" scheme, registered once; every target writes its inputs under fuzz://.
inline MemoryFileSystem& Fs() {
  static std::shared_ptr<MemoryFileSystem> fs = [] {
    auto m = std::make_shared<MemoryFileSystem>();
    RegisterFileSystem("fuzz", m);
    return m;
  }();
  return *fs;
}

// Creates (or replaces) fuzz://<path> with `data`, parents included; returns the URI.
inline std::string PutFile(const std::string& path, std::string_view data) {
  std::string uri = "fuzz://" + path;
  size_t slash = uri.rfind('/');
  if (slash > 7) (void)Fs().CreateDirs(uri.substr(0, slash));
  Fs().SetContents(uri, std::string(data));
  return uri;
}

inline void Consume(double v) {
  volatile double sink = v;
  (void)sink;
}

}  // namespace tos::fuzz
