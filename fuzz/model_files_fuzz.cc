// Checkpoint and export headers (src/formats/model_files.cc). Byte 0 picks:
//   0  the rest as a whole checkpoint file (magic, lengths and digest checks);
//   1  the rest as a checkpoint's header JSON and payload, in a file with a correct digest
//      (bytes 1-2: the header's length), so the header's fields are what is tested;
//   2  the rest as an export's model.json.
// Whatever parses must serialize and parse back to the same fields.
#include <cstdlib>
#include <string>
#include <string_view>

#include "formats/model_files.h"

namespace {

bool SameEntries(const tos::CheckpointHeader& a, const tos::CheckpointHeader& b) {
  if (a.global_step != b.global_step || a.model_type != b.model_type ||
      a.meta_json != b.meta_json || a.entries.size() != b.entries.size())
    return false;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const auto &x = a.entries[i], &y = b.entries[i];
    if (x.name != y.name || x.is_blob != y.is_blob || x.dtype != y.dtype || x.shape != y.shape ||
        x.offset != y.offset || x.nbytes != y.nbytes)
      return false;
  }
  return true;
}

void Checkpoint(std::string_view file) {
  std::string_view payload;
  auto h = tos::ParseCheckpointFile(file, "fuzz.tosckpt", &payload);
  if (!h.ok()) return;
  for (const auto& e : h->entries) {
    if (e.offset > payload.size() || e.nbytes > payload.size() - e.offset) std::abort();
  }
  const std::string again = tos::SerializeCheckpointFile(*h, {payload});
  std::string_view payload2;
  auto back = tos::ParseCheckpointFile(again, "again.tosckpt", &payload2);
  if (!back.ok() || !SameEntries(*h, *back) || payload2 != payload) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      Checkpoint(rest);
      break;
    case 1: {
      if (rest.size() < 2) return 0;
      size_t hlen =
          static_cast<uint8_t>(rest[0]) | static_cast<size_t>(static_cast<uint8_t>(rest[1])) << 8;
      rest.remove_prefix(2);
      if (hlen > rest.size()) hlen = rest.size();
      Checkpoint(tos::FrameCheckpointFile(rest.substr(0, hlen), {rest.substr(hlen)}));
      break;
    }
    default: {
      auto m = tos::ParseExportManifest(rest, "model.json");
      if (!m.ok()) return 0;
      auto back = tos::ParseExportManifest(tos::ExportManifestToJson(*m), "again.json");
      if (!back.ok() || back->model_type != m->model_type || back->input_shape != m->input_shape ||
          back->input_dtype != m->input_dtype || back->input_scale != m->input_scale ||
          back->num_classes != m->num_classes || back->global_step != m->global_step ||
          back->model_pt_bytes != m->model_pt_bytes || back->model_pt_sha256 != m->model_pt_sha256)
        std::abort();
    }
  }
  return 0;
}
