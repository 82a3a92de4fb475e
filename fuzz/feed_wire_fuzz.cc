// Feed channel payloads (src/feed/wire.cc): FEED_DATA records, RESULTS, FEED_OPEN JSON. The
// first byte picks the decoder. Decoded records must lie inside the payload; decoded RESULTS
// and FEED_OPEN must survive an encode/decode round trip.
#include <string>
#include <vector>

#include "feed/wire.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      std::vector<std::string_view> records;
      if (tos::feed::DecodeRecords(payload, &records).ok()) {
        for (auto r : records) {
          if (r.data() < payload.data() || r.data() + r.size() > payload.data() + payload.size()) {
            __builtin_trap();
          }
        }
      }
      break;
    }
    case 1: {
      std::vector<std::string> results, again;
      if (tos::feed::DecodeResults(payload, &results).ok()) {
        if (!tos::feed::DecodeResults(tos::feed::EncodeResults(results), &again).ok() ||
            again != results) {
          __builtin_trap();
        }
      }
      break;
    }
    default: {
      auto r = tos::feed::DecodeFeedOpen(payload);
      if (r.ok()) {
        auto again = tos::feed::DecodeFeedOpen(tos::feed::EncodeFeedOpen(*r));
        if (!again.ok() || again->feed != r->feed || again->mode != r->mode ||
            again->sender != r->sender || again->encoding != r->encoding ||
            again->shared != r->shared) {
          __builtin_trap();
        }
      }
      break;
    }
  }
  return 0;
}
