// Reservation/control channel payloads (src/reservation/messages.cc) and the cluster spec JSON
// inside them (src/cluster/cluster_spec.cc). The first byte picks the decoder. A decoded
// message must encode and decode again to the same fields.
#include <string>

#include "fuzz_util.h"
#include "reservation/messages.h"
#include "tos/cluster_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto r = tos::reservation::DecodeRegistration(payload);
      if (r.ok()) {
        auto again = tos::reservation::DecodeRegistration(tos::reservation::EncodeRegistration(*r));
        if (!again.ok() || again->executor_id != r->executor_id || again->host != r->host ||
            again->port != r->port || again->feed_port != r->feed_port || again->pid != r->pid ||
            again->instance != r->instance) {
          __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      auto r = tos::reservation::DecodeClusterReply(payload);
      if (r.ok()) {
        auto again = tos::reservation::DecodeClusterReply(tos::reservation::EncodeClusterReply(*r));
        if (!again.ok() || again->job_name != r->job_name || again->task_index != r->task_index ||
            again->num_executors != r->num_executors ||
            again->feed_addresses != r->feed_addresses) {
          __builtin_trap();
        }
      }
      break;
    }
    default: {
      auto r = tos::ClusterSpecFromJson(payload);
      if (r.ok()) (void)tos::ClusterSpecToJson(*r);
      break;
    }
  }
  return 0;
}
