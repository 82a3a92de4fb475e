// tf.train.Example decoding (DecodeMnistExample, examples/mnist/data/mnist_codec.cc), including the
// fast packed-pixel path (examples/mnist/data/mnist_fast.cc). The fast and scalar pixel decoders
// must agree with each other on every input (the exact decoder reports the errors).
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "fuzz_util.h"
#include "mnist_dataset.h"
#include "mnist_fast.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  uint8_t out[tos::kMnistRecordBytes];
  (void)tos::DecodeMnistExample(in, out);

  uint8_t fast[tos::kMnistPixels], scalar[tos::kMnistPixels];
  bool f = tos::internal::DecodePackedPixelsFast(data, size, fast);
  bool s = tos::internal::DecodePackedPixelsScalar(data, size, scalar);
  if (f != s || (f && std::memcmp(fast, scalar, sizeof fast) != 0)) std::abort();
  return 0;
}
