// Gzip part files (src/io/compression.cc): members, concatenation, truncation and corruption,
// read through OpenInputFile(kGzip) on the memory file system. Output is read in odd-sized
// pieces (from the first byte) and capped so that a small bomb cannot run the process dry.
#include <memory>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "tos/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + static_cast<size_t>(data[0]) * 257;
  std::string uri = tos::fuzz::PutFile(
      "gzip/part-00000.gz", std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  (void)tos::LooksGzipped(std::string_view(reinterpret_cast<const char*>(data), size));
  auto f = tos::OpenInputFile(uri, tos::Compression::kGzip);
  if (!f.ok()) return 0;
  std::vector<char> buf(piece);
  size_t total = 0;
  while (total < (64u << 20)) {
    auto n = (*f)->Read(buf.data(), buf.size());
    if (!n.ok() || *n == 0) break;
    if (*n > buf.size()) __builtin_trap();
    total += *n;
  }
  return 0;
}
