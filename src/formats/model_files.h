// The headers of the two files training writes, without libtorch: a checkpoint's container
// (magic, JSON header listing named tensors and blobs, their bytes, SHA-256 trailer; format in
// docs/training.md, "Checkpoint format") and an export's model.json manifest (the size and
// SHA-256 of model.pt beside it). tos_train turns entries into tensors; everything a file
// claims is checked here first, so a damaged or crafted file is DataLoss naming it and the
// field, before anything is allocated for it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

// Bytes per element of a checkpoint dtype ("float32", "float64", "int64", "int32", "uint8"),
// 0 for any other name.
size_t CheckpointDtypeSize(std::string_view dtype);

struct CheckpointEntry {
  std::string name;
  bool is_blob = false;
  std::string dtype;           // tensors only
  std::vector<int64_t> shape;  // tensors only
  uint64_t offset = 0;         // in the payload
  uint64_t nbytes = 0;
};

struct CheckpointHeader {
  int64_t global_step = 0;
  std::string model_type;
  std::string meta_json = "{}";  // a JSON object
  std::vector<CheckpointEntry> entries;
};

// The file image: the payload is `pieces` back to back and holds the entries' bytes (each
// entry's offset and nbytes index it). Meta that is not a JSON object is written as {}.
std::string SerializeCheckpointFile(const CheckpointHeader& header,
                                    const std::vector<std::string_view>& pieces);
// The container around a header's JSON text and the payload: magic, lengths, SHA-256 trailer.
std::string FrameCheckpointFile(std::string_view header_json,
                                const std::vector<std::string_view>& pieces);

// Verifies the magic, the end marker and the SHA-256 trailer, then the header: every entry
// lies inside the payload, a tensor has a known dtype, no negative dimension, and exactly
// numel x element size bytes. *payload views `bytes`. `what` names the file in messages.
Result<CheckpointHeader> ParseCheckpointFile(std::string_view bytes, const std::string& what,
                                             std::string_view* payload);

// <export_dir>/model.json.
struct ExportManifest {
  static constexpr const char* kFormat = "tos-export-v2";
  std::string model_type;
  std::vector<int64_t> input_shape;
  std::string input_dtype = "uint8";
  double input_scale = 1.0 / 255.0;
  int64_t num_classes = 10;
  int64_t global_step = 0;
  uint64_t model_pt_bytes = 0;
  std::string model_pt_sha256;  // lower-case hex
};

std::string ExportManifestToJson(const ExportManifest& m);  // indented, with a final newline
// DataLoss naming `path` and the field that is missing or of the wrong type; an older format
// (no digest of model.pt) is refused, saying to re-export.
Result<ExportManifest> ParseExportManifest(std::string_view text, const std::string& path);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace tos
