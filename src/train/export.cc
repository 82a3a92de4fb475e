#include "tos/train/export.h"

#include <torch/serialize.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/model_files.h"
#include "tos/fs.h"
#include "tos/log.h"

namespace tos::train {
namespace {

// The global step an existing export records, or -1 when there is none to read.
int64_t ExistingExportStep(const std::string& export_dir) {
  Result<std::string> text = ReadFileToString(JoinPath(export_dir, "model.json"));
  if (!text.ok()) return -1;
  auto meta = nlohmann::json::parse(*text, nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("global_step") ||
      !meta["global_step"].is_number_integer()) {
    return -1;
  }
  return meta["global_step"].get<int64_t>();
}

}  // namespace

Status ExportModel(const Model& model, const std::string& export_dir, int64_t global_step) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(export_dir));
  // A run that restarted from an earlier step (its checkpoints were unreadable) must not
  // replace a further-trained export: that one is kept, renamed, for the user.
  if (int64_t existing = ExistingExportStep(export_dir); existing > global_step) {
    std::string aside = export_dir + ".step-" + std::to_string(existing);
    for (int n = 1;; ++n) {
      TOS_ASSIGN_OR_RETURN(bool taken, fs->Exists(aside));
      if (!taken) break;
      aside = export_dir + ".step-" + std::to_string(existing) + "." + std::to_string(n);
    }
    TOS_RETURN_IF_ERROR(fs->RenameFile(export_dir, aside)
                            .WithContext("setting aside the export of step " +
                                         std::to_string(existing) + " in " + export_dir));
    LogWarning("the export in " + export_dir + " is from global step " + std::to_string(existing) +
               ", further than this one (" + std::to_string(global_step) + "): kept as " + aside);
  }
  TOS_RETURN_IF_ERROR(fs->CreateDirs(export_dir).WithContext("creating the export dir"));
  std::ostringstream os;
  try {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.save_to(os);
  } catch (const std::exception& e) {
    return Internal(std::string("serializing the model: ") + e.what());
  }
  const std::string bytes = os.str();
  TOS_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(export_dir, "model.pt"), bytes));
  ExportManifest m;
  m.model_type = model.type();
  m.input_shape = model.input_shape();
  m.global_step = global_step;
  m.model_pt_bytes = bytes.size();
  m.model_pt_sha256 = Sha256Hex(bytes);
  return WriteFileAtomically(JoinPath(export_dir, "model.json"), ExportManifestToJson(m));
}

Result<ExportedModel> LoadExportedModel(const std::string& export_dir) {
  const std::string manifest_path = JoinPath(export_dir, "model.json");
  Result<std::string> text = ReadFileToString(manifest_path);
  if (!text.ok()) {
    if (text.status().code() != StatusCode::kNotFound) return text.status();
    return NotFound("no model.json in " + export_dir + " (not an export, or an unfinished one)");
  }
  TOS_ASSIGN_OR_RETURN(ExportManifest meta, ParseExportManifest(*text, manifest_path));
  const std::string pt_path = JoinPath(export_dir, "model.pt");
  Result<std::string> pt = ReadFileToString(pt_path);
  if (!pt.ok()) {
    if (pt.status().code() != StatusCode::kNotFound) return pt.status();
    return NotFound(pt_path + " is missing (an unfinished or damaged export)");
  }
  const std::string& bytes = *pt;
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
