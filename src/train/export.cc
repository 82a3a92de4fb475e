#include "tos/train/export.h"

#include <torch/serialize.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tos/train/checkpoint.h"

namespace tos::train {

Status ExportModel(const Model& model, const std::string& export_dir, int64_t global_step) {
  std::error_code ec;
  std::filesystem::create_directories(export_dir, ec);
  if (ec) return Internal("creating export dir " + export_dir + ": " + ec.message());
  std::ostringstream os;
  try {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.save_to(os);
  } catch (const std::exception& e) {
    return Internal(std::string("serializing the model: ") + e.what());
  }
  TOS_RETURN_IF_ERROR(WriteFileAtomically(export_dir + "/model.pt", os.str()));
  nlohmann::json meta = {{"format", "tos-export-v1"},          {"model_type", model.type()},
                         {"input_shape", model.input_shape()}, {"input_dtype", "uint8"},
                         {"input_scale", 1.0 / 255.0},         {"num_classes", 10},
                         {"global_step", global_step}};
  return WriteFileAtomically(export_dir + "/model.json", meta.dump(2) + "\n");
}

Result<ExportedModel> LoadExportedModel(const std::string& export_dir) {
  std::ifstream in(export_dir + "/model.json");
  if (!in)
    return NotFound("no model.json in " + export_dir + " (not an export, or an unfinished one)");
  auto meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || meta.value("format", "") != "tos-export-v1") {
    return DataLoss(export_dir + "/model.json is not a tos-export-v1 description");
  }
  TOS_ASSIGN_OR_RETURN(auto model, MakeModel(meta.value("model_type", "")));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(export_dir + "/model.pt");
    model->load(archive);
  } catch (const std::exception& e) {
    return DataLoss("loading " + export_dir + "/model.pt: " + e.what());
  }
  model->eval();
  return ExportedModel{model, meta.value("global_step", int64_t{0})};
}

}  // namespace tos::train
