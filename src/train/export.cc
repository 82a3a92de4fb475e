#include "tos/train/export.h"

#include <openssl/sha.h>
#include <torch/serialize.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tos/log.h"
#include "tos/train/checkpoint.h"

namespace tos::train {
namespace {

constexpr const char* kExportFormat = "tos-export-v2";

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

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
  nlohmann::json meta = {{"format", kExportFormat},
                         {"model_type", model.type()},
                         {"input_shape", model.input_shape()},
                         {"input_dtype", "uint8"},
                         {"input_scale", 1.0 / 255.0},
                         {"num_classes", 10},
                         {"global_step", global_step},
                         {"model_pt_bytes", bytes.size()},
                         {"model_pt_sha256", Sha256Hex(bytes)}};
  return WriteFileAtomically(export_dir + "/model.json", meta.dump(2) + "\n");
}

Result<ExportedModel> LoadExportedModel(const std::string& export_dir) {
  std::ifstream in(export_dir + "/model.json");
  if (!in)
    return NotFound("no model.json in " + export_dir + " (not an export, or an unfinished one)");
  auto meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) {
    return DataLoss(export_dir +
                    "/model.json is not valid JSON (damaged export): re-export the model");
  }
  const std::string format = meta.value("format", "");
  if (format != kExportFormat) {
    return DataLoss(export_dir + "/model.json: format '" + format + "', expected '" +
                    kExportFormat + "' (an older export has no digest of model.pt to verify " +
                    "it against): re-export the model");
  }
  const std::string pt_path = export_dir + "/model.pt";
  std::ifstream pt(pt_path, std::ios::binary);
  if (!pt) return NotFound(pt_path + " is missing (an unfinished or damaged export)");
  std::string bytes((std::istreambuf_iterator<char>(pt)), std::istreambuf_iterator<char>());
  const std::string want = meta.value("model_pt_sha256", "");
  if (bytes.size() != meta.value("model_pt_bytes", uint64_t{0}) || Sha256Hex(bytes) != want) {
    return DataLoss(pt_path + ": " + std::to_string(bytes.size()) +
                    " bytes do not match the size and SHA-256 recorded in model.json " +
                    "(damaged or from another export): re-export the model or restore the " +
                    "export directory");
  }
  TOS_ASSIGN_OR_RETURN(auto model, MakeModel(meta.value("model_type", "")));
  try {
    std::istringstream in_pt(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in_pt);
    model->load(archive);
  } catch (const std::exception& e) {
    return DataLoss("loading " + pt_path + ": " + e.what());
  }
  model->eval();
  return ExportedModel{model, meta.value("global_step", int64_t{0})};
}

}  // namespace tos::train
