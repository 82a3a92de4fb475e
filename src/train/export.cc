#include "tos/train/export.h"

#include <torch/serialize.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/model_files.h"
#include "tos/log.h"
#include "tos/train/checkpoint.h"

namespace tos::train {
namespace {

// The global step an existing export records, or -1 when there is none to read.
int64_t ExistingExportStep(const std::string& export_dir) {
  std::ifstream in(export_dir + "/model.json");
  if (!in) return -1;
  auto meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("global_step") ||
      !meta["global_step"].is_number_integer()) {
    return -1;
  }
  return meta["global_step"].get<int64_t>();
}

}  // namespace

Status ExportModel(const Model& model, const std::string& export_dir, int64_t global_step) {
  std::error_code ec;
  // A run that restarted from an earlier step (its checkpoints were unreadable) must not
  // replace a further-trained export: that one is kept, renamed, for the user.
  if (int64_t existing = ExistingExportStep(export_dir); existing > global_step) {
    std::string aside = export_dir + ".step-" + std::to_string(existing);
    for (int n = 1; std::filesystem::exists(aside); ++n)
      aside = export_dir + ".step-" + std::to_string(existing) + "." + std::to_string(n);
    std::filesystem::rename(export_dir, aside, ec);
    if (ec)
      return Internal("setting aside the export of step " + std::to_string(existing) + " in " +
                      export_dir + ": " + ec.message());
    LogWarning("the export in " + export_dir + " is from global step " + std::to_string(existing) +
               ", further than this one (" + std::to_string(global_step) + "): kept as " + aside);
  }
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
  const std::string bytes = os.str();
  TOS_RETURN_IF_ERROR(WriteFileAtomically(export_dir + "/model.pt", bytes));
  ExportManifest m;
  m.model_type = model.type();
  m.input_shape = model.input_shape();
  m.global_step = global_step;
  m.model_pt_bytes = bytes.size();
  m.model_pt_sha256 = Sha256Hex(bytes);
  return WriteFileAtomically(export_dir + "/model.json", ExportManifestToJson(m));
}

Result<ExportedModel> LoadExportedModel(const std::string& export_dir) {
  const std::string manifest_path = export_dir + "/model.json";
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in)
    return NotFound("no model.json in " + export_dir + " (not an export, or an unfinished one)");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TOS_ASSIGN_OR_RETURN(ExportManifest meta, ParseExportManifest(text, manifest_path));
  const std::string pt_path = export_dir + "/model.pt";
  std::ifstream pt(pt_path, std::ios::binary);
  if (!pt) return NotFound(pt_path + " is missing (an unfinished or damaged export)");
  std::string bytes((std::istreambuf_iterator<char>(pt)), std::istreambuf_iterator<char>());
  if (bytes.size() != meta.model_pt_bytes || Sha256Hex(bytes) != meta.model_pt_sha256) {
    return DataLoss(pt_path + ": " + std::to_string(bytes.size()) +
                    " bytes do not match the size and SHA-256 recorded in model.json " +
                    "(damaged or from another export): re-export the model or restore the " +
                    "export directory");
  }
  TOS_ASSIGN_OR_RETURN(auto model, MakeModel(meta.model_type));
  try {
    std::istringstream in_pt(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in_pt);
    model->load(archive);
  } catch (const std::exception& e) {
    return DataLoss("loading " + pt_path + ": " + e.what());
  }
  model->eval();
  return ExportedModel{model, meta.global_step};
}

}  // namespace tos::train
