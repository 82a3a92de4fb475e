// The pickle decoder (src/formats/pickle.cc), then every accessor that consumers call on the
// decoded values (IsNumeric, NumericSize, NumericAt, Describe), over the whole value tree.
#include <string_view>

#include "fuzz_util.h"
#include "tos/pickle.h"

namespace {

void Walk(const tos::PickleRef& v, int depth) {
  if (!v || depth > 64) return;
  (void)v->Describe();
  if (v->IsNumeric()) {
    size_t n = v->NumericSize();
    for (size_t i = 0; i < n && i < 4096; ++i) tos::fuzz::Consume(v->NumericAt(i));
  }
  for (const auto& item : v->items) Walk(item, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = tos::ParsePickle(std::string_view(reinterpret_cast<const char*>(data), size));
  if (r.ok()) Walk(*r, 0);
  return 0;
}
