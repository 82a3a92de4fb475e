// Export of a trained model for inference: <model_dir>/export/
//   model.pt    the module's parameters and buffers, torch::save format (torch::load reads it)
//   model.json  {"format":"tos-export-v2","model_type":"mlp","input_shape":[784],
//                "input_dtype":"uint8","input_scale":0.00392156862745098,"num_classes":10,
//                "global_step":N,
//                "model_pt_bytes":B,"model_pt_sha256":"<hex>"}
// Both are written atomically (model.json last, so its presence means the export is whole).
#pragma once

#include <memory>
#include <string>

#include "tos/status.h"
#include "tos/train/models.h"

namespace tos::train {

Status ExportModel(const Model& model, const std::string& export_dir, int64_t global_step);

struct ExportedModel {
  std::shared_ptr<Model> model;  // in eval mode
  int64_t global_step = 0;
};
// Reads model.json, creates the model by type and loads model.pt.
Result<ExportedModel> LoadExportedModel(const std::string& export_dir);

}  // namespace tos::train
