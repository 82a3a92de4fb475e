// tf.train.Example (src/formats/example.cc): Parse on any bytes; whatever parses must
// serialize and parse back to an equal Example (Serialize's output is canonical: parsing it
// and serializing again gives the same bytes).
#include <cstdlib>
#include <string_view>

#include "tos/example.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto e = tos::Example::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!e.ok()) return 0;
  const std::string bytes = e->Serialize();
  auto back = tos::Example::Parse(bytes);
  if (!back.ok() || !(*back == *e) || back->Serialize() != bytes) std::abort();
  return 0;
}
