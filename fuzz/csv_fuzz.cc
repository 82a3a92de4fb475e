// MNIST csv and csv2 lines (examples/mnist/data/mnist_codec.cc) and the fast csv pixel parser
// (examples/mnist/data/mnist_fast.cc). The first byte picks the form; for csv the rest is split at
// the first newline into an image line and a label line. Whatever the fast pixel parser accepts
// must be exactly 784 decimal ints 0..255 (1-3 digits, comma-separated) with the same values.
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "mnist_dataset.h"
#include "mnist_fast.h"

namespace {

// The documented grammar of ParseCsvPixelsFast, written plainly.
bool ReferencePixels(std::string_view in, uint8_t* pixels) {
  size_t p = 0;
  for (size_t i = 0; i < tos::kMnistPixels; ++i) {
    if (i > 0) {
      if (p >= in.size() || in[p] != ',') return false;
      ++p;
    }
    size_t digits = 0;
    unsigned v = 0;
    while (p < in.size() && in[p] >= '0' && in[p] <= '9' && digits < 4) {
      v = v * 10 + static_cast<unsigned>(in[p] - '0');
      ++p;
      ++digits;
    }
    if (digits == 0 || digits > 3 || v > 255) return false;
    pixels[i] = static_cast<uint8_t>(v);
  }
  return p == in.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  uint8_t out[tos::kMnistRecordBytes];
  if (mode == 0) {
    (void)tos::DecodeMnistCsv2Line(in, out);
  } else if (mode == 1) {
    size_t nl = in.find('\n');
    std::string_view image = in.substr(0, nl);
    std::string_view label = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    (void)tos::DecodeMnistCsvPair(image, label, out);
  } else {
    uint8_t fast[tos::kMnistPixels], ref[tos::kMnistPixels];
    bool ok = tos::internal::ParseCsvPixelsFast(in.data(), in.data() + in.size(), fast);
    if (ok && (!ReferencePixels(in, ref) || std::memcmp(fast, ref, sizeof fast) != 0)) std::abort();
  }
  return 0;
}
