// The pickle decoder (src/formats/pickle.cc), then every accessor that consumers call on the
// decoded values (IsNumeric, NumericSize, NumericAt, Describe), on every value once. Memo GETs
// share values, so the values form a graph whose paths can number 2^depth: each value is
// visited once (a walk of every path took 28 s on a 2,900-byte input).
#include <string_view>
#include <unordered_set>

#include "fuzz_util.h"
#include "tos/pickle.h"

namespace {

void Walk(const tos::PickleRef& v, int depth, std::unordered_set<const void*>* seen) {
  if (!v || depth > 64 || !seen->insert(v.get()).second) return;
  (void)v->Describe();
  if (v->IsNumeric()) {
    size_t n = v->NumericSize();
    for (size_t i = 0; i < n && i < 4096; ++i) tos::fuzz::Consume(v->NumericAt(i));
  }
  for (const auto& item : v->items) Walk(item, depth + 1, seen);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = tos::ParsePickle(std::string_view(reinterpret_cast<const char*>(data), size));
  std::unordered_set<const void*> seen;
  if (r.ok()) Walk(*r, 0, &seen);
  return 0;
}
