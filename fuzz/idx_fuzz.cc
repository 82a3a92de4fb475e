// IDX files (examples/mnist/data/idx.cc), raw or gzip (detected from the magic bytes): ReadIdx on
// the input after its first two bytes, and ReadMnistIdx on that rest split at the offset the two
// bytes give (little-endian) into an images and a labels file (cross-checks of magic, shape,
// count and label range).
#include <string>

#include "fuzz_util.h"
#include "idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  (void)tos::ReadIdx(tos::fuzz::PutFile("idx/whole", rest));
  size_t cut = std::min<size_t>(rest.size(), data[0] | static_cast<size_t>(data[1]) << 8);
  std::string images = tos::fuzz::PutFile("idx/images", rest.substr(0, cut));
  std::string labels = tos::fuzz::PutFile("idx/labels", rest.substr(cut));
  auto r = tos::ReadMnistIdx(images, labels);
  if (r.ok() && (r->images.size() != r->n * 784 || r->labels.size() != r->n)) __builtin_trap();
  return 0;
}
