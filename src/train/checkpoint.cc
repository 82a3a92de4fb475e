#include "tos/train/checkpoint.h"

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/model_files.h"
#include "tos/fs.h"
#include "tos/log.h"

namespace tos::train {
namespace {

const char* DtypeName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat64:
      return "float64";
    case torch::kInt64:
      return "int64";
    case torch::kInt32:
      return "int32";
    case torch::kUInt8:
      return "uint8";
    default:
      return nullptr;
  }
}

bool DtypeFromName(const std::string& n, torch::ScalarType* t) {
  if (n == "float32")
    *t = torch::kFloat32;
  else if (n == "float64")
    *t = torch::kFloat64;
  else if (n == "int64")
    *t = torch::kInt64;
  else if (n == "int32")
    *t = torch::kInt32;
  else if (n == "uint8")
    *t = torch::kUInt8;
  else
    return false;
  return true;
}

Status DeleteCheckpointFile(const std::string& path) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(path));
  return fs->DeleteFile(path);
}

std::string StepFileName(int64_t step) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "ckpt-%012lld.tosckpt", static_cast<long long>(step));
  return buf;
}

}  // namespace

std::string SerializeCheckpoint(const Checkpoint& ckpt) {
  CheckpointHeader header;
  header.global_step = ckpt.global_step;
  header.model_type = ckpt.model_type;
  header.meta_json = ckpt.meta_json.empty() ? "{}" : ckpt.meta_json;
  // The payload is written from the tensors' own memory (contiguous CPU copies kept alive
  // here) and the blobs, without assembling it first.
  std::vector<torch::Tensor> contiguous;
  std::vector<std::string_view> pieces;
  uint64_t offset = 0;
  for (const auto& [name, t] : ckpt.tensors) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const char* dt = DtypeName(c.scalar_type());
    if (dt == nullptr) c = c.to(torch::kFloat32), dt = "float32";
    CheckpointEntry e;
    e.name = name;
    e.dtype = dt;
    e.shape = c.sizes().vec();
    e.offset = offset;
    e.nbytes = c.numel() * c.element_size();
    offset += e.nbytes;
    contiguous.push_back(c);
    pieces.emplace_back(static_cast<const char*>(c.data_ptr()), e.nbytes);
    header.entries.push_back(std::move(e));
  }
  for (const auto& [name, b] : ckpt.blobs) {
    CheckpointEntry e;
    e.name = name;
    e.is_blob = true;
    e.offset = offset;
    e.nbytes = b.size();
    offset += e.nbytes;
    pieces.emplace_back(b);
    header.entries.push_back(std::move(e));
  }
  return SerializeCheckpointFile(header, pieces);
}

Result<Checkpoint> ParseCheckpoint(const std::string& bytes, const std::string& what) {
  std::string_view payload;
  TOS_ASSIGN_OR_RETURN(CheckpointHeader header, ParseCheckpointFile(bytes, what, &payload));
  Checkpoint ckpt;
  ckpt.global_step = header.global_step;
  ckpt.model_type = header.model_type;
  ckpt.meta_json = header.meta_json;
  for (const CheckpointEntry& e : header.entries) {
    const char* src = payload.data() + e.offset;
    if (e.is_blob) {
      ckpt.blobs.emplace_back(e.name, std::string(src, e.nbytes));
      continue;
    }
    // ParseCheckpointFile checked the dtype and that shape x element size is nbytes.
    torch::ScalarType dt = torch::kFloat32;
    DtypeFromName(e.dtype, &dt);
    torch::Tensor t = torch::empty(e.shape, dt);
    if (e.nbytes > 0) std::memcpy(t.data_ptr(), src, e.nbytes);
    ckpt.tensors.emplace_back(e.name, t);
  }
  return ckpt;
}

Result<Checkpoint> ReadCheckpointFile(const std::string& path) {
  Result<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status().WithContext("reading checkpoint");
  return ParseCheckpoint(*bytes, path);
}

Result<CheckpointManager> CheckpointManager::Open(const CheckpointOptions& options) {
  if (options.model_dir.empty()) return InvalidArgument("checkpoint model_dir is empty");
  if (options.keep_last < 1) return InvalidArgument("checkpoint keep_last must be >= 1");
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(options.model_dir));
  TOS_RETURN_IF_ERROR(fs->CreateDirs(options.model_dir).WithContext("creating the model dir"));
  return CheckpointManager(options);
}

std::vector<std::string> CheckpointManager::List() const {
  std::vector<std::pair<long long, std::string>> found;
  auto fs = GetFileSystem(opts_.model_dir);
  if (!fs.ok()) return {};
  auto entries = (*fs)->ListDir(opts_.model_dir);
  if (!entries.ok()) return {};
  for (const DirEntry& entry : *entries) {
    const std::string& name = entry.name;
    const std::string prefix = "ckpt-", suffix = ".tosckpt";
    if (entry.is_dir || name.size() <= prefix.size() + suffix.size() ||
        name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string digits =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoll(digits), JoinPath(opts_.model_dir, name));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

Result<std::string> CheckpointManager::Save(const Checkpoint& ckpt) {
  const std::string saved = StepFileName(ckpt.global_step);
  const std::string path = JoinPath(opts_.model_dir, saved);
  TOS_RETURN_IF_ERROR(
      WriteFileAtomically(path, SerializeCheckpoint(ckpt)).WithContext("saving checkpoint"));
  last_saved_step_ = ckpt.global_step;
  // Newest first. Files with a higher step than the one just saved belong to an abandoned
  // run (e.g. a corrupt checkpoint that resume skipped): they go, or they would shadow this one.
  int kept = 0;
  for (const auto& other : List()) {
    const std::string name(Basename(other));
    if (name > saved) {       // fixed-width names sort by step
      (void)SetAside(other);  // it did not load (resume skipped it): kept under a new name
    } else if (name != saved && kept >= opts_.keep_last) {
      if (Status s = DeleteCheckpointFile(other); !s.ok()) {
        LogWarning("could not delete the old checkpoint " + other + ": " + s.ToString());
      }
    } else {
      ++kept;  // the one just saved, or one of the keep_last newest
    }
  }
  return path;
}

Result<Checkpoint> CheckpointManager::LoadLatest(std::vector<std::string>* skipped,
                                                 bool set_aside_unreadable) const {
  for (const auto& path : List()) {
    auto c = ReadCheckpointFile(path);
    if (c.ok()) {
      last_saved_step_ = c->global_step;
      return c;
    }
    std::string what = c.status().ToString();
    if (set_aside_unreadable) what += "; " + SetAside(path);
    if (skipped != nullptr) skipped->push_back(what);
  }
  return NotFound("no usable checkpoint in " + opts_.model_dir);
}

std::optional<Checkpoint> CheckpointManager::Resume(bool set_aside_unreadable) const {
  std::vector<std::string> skipped;
  auto latest = LoadLatest(&skipped, set_aside_unreadable);
  std::string why;
  for (const auto& s : skipped) why += "\n  unreadable: " + s;
  if (latest.ok()) {
    if (!skipped.empty()) {
      LogWarning("resuming from global step " + std::to_string(latest->global_step) +
                 ", the newest usable checkpoint in " + opts_.model_dir +
                 "; newer ones did not load:" + why);
    }
    return std::move(latest).value();
  }
  if (!skipped.empty()) {
    LogWarning("NO USABLE CHECKPOINT in " + opts_.model_dir +
               ": training starts from global step 0." + why +
               "\n  Restore a good checkpoint into " + opts_.model_dir +
               " and restart to resume instead.");
  }
  return std::nullopt;
}

std::string CheckpointManager::SetAside(const std::string& path) {
  // Never deleted: the user may still recover it, or want to know what went wrong.
  const std::string aside = path + kUnreadableSuffix;
  auto fs = GetFileSystem(path);
  Status s = fs.ok() ? (*fs)->RenameFile(path, aside) : fs.status();
  if (!s.ok()) return "could not rename it to " + aside + " (" + s.ToString() + "), left in place";
  return "kept as " + aside;
}

Checkpoint CheckpointFromModel(const torch::nn::Module& model, const std::string& model_type,
                               const torch::optim::Optimizer* optimizer, int64_t global_step) {
  Checkpoint c;
  c.global_step = global_step;
  c.model_type = model_type;
  for (const auto& p : model.named_parameters(true))
    c.tensors.emplace_back("model/" + p.key(), p.value());
  for (const auto& b : model.named_buffers(true))
    c.tensors.emplace_back("model/" + b.key(), b.value());
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    std::ostringstream os;
    archive.save_to(os);
    c.blobs.emplace_back("optimizer", os.str());
  }
  return c;
}

Status RestoreModel(const Checkpoint& ckpt, torch::nn::Module* model,
                    torch::optim::Optimizer* optimizer) {
  std::unordered_map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, t] : ckpt.tensors) by_name[name] = &t;
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, torch::Tensor& dst) -> Status {
    auto it = by_name.find("model/" + name);
    if (it == by_name.end())
      return NotFound("checkpoint at step " + std::to_string(ckpt.global_step) + " lacks '" + name +
                      "'");
    if (!it->second->sizes().equals(dst.sizes()))
      return InvalidArgument("checkpoint '" + name + "' has another shape");
    dst.copy_(*it->second);
    return Status::OK();
  };
  for (auto& p : model->named_parameters(true)) TOS_RETURN_IF_ERROR(restore(p.key(), p.value()));
  for (auto& b : model->named_buffers(true)) TOS_RETURN_IF_ERROR(restore(b.key(), b.value()));
  if (optimizer != nullptr) {
    for (const auto& [name, blob] : ckpt.blobs) {
      if (name != "optimizer") continue;
      try {
        torch::serialize::InputArchive archive;
        std::istringstream is(blob);
        archive.load_from(is);
        optimizer->load(archive);
      } catch (const std::exception& e) {
        return DataLoss(std::string("restoring optimizer state: ") + e.what());
      }
      return Status::OK();
    }
    return NotFound("checkpoint at step " + std::to_string(ckpt.global_step) +
                    " has no optimizer state");
  }
  return Status::OK();
}

Checkpoint CheckpointFromPsState(const PsState& state, const std::string& model_type) {
  Checkpoint c;
  c.global_step = state.global_step;
  c.model_type = model_type;
  const auto& o = state.optimizer;
  nlohmann::json spec = {{"type", o.type},
                         {"learning_rate", o.learning_rate},
                         {"momentum", o.momentum},
                         {"nesterov", o.nesterov},
                         {"initial_accumulator", o.initial_accumulator},
                         {"beta1", o.beta1},
                         {"beta2", o.beta2},
                         {"epsilon", o.epsilon}};
  c.meta_json = nlohmann::json{{"ps_optimizer", spec}}.dump();
  for (const auto& [name, t] : state.params) c.tensors.emplace_back("model/" + name, t);
  for (const auto& [name, t] : state.slots) c.tensors.emplace_back("slot/" + name, t);
  return c;
}

Result<PsState> PsStateFromCheckpoint(const Checkpoint& ckpt) {
  PsState s;
  s.global_step = ckpt.global_step;
  auto meta = nlohmann::json::parse(ckpt.meta_json, nullptr, false);
  if (meta.is_discarded() || !meta.contains("ps_optimizer")) {
    return InvalidArgument("checkpoint at step " + std::to_string(ckpt.global_step) +
                           " was not written from parameter-server state (no ps_optimizer)");
  }
  try {
    const auto& j = meta.at("ps_optimizer");
    s.optimizer.type = j.at("type").get<std::string>();
    s.optimizer.learning_rate = j.at("learning_rate").get<double>();
    s.optimizer.momentum = j.at("momentum").get<double>();
    s.optimizer.nesterov = j.at("nesterov").get<bool>();
    s.optimizer.initial_accumulator = j.at("initial_accumulator").get<double>();
    s.optimizer.beta1 = j.at("beta1").get<double>();
    s.optimizer.beta2 = j.at("beta2").get<double>();
    s.optimizer.epsilon = j.at("epsilon").get<double>();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("checkpoint ps_optimizer: ") + e.what());
  }
  for (const auto& [name, t] : ckpt.tensors) {
    if (name.rfind("model/", 0) == 0)
      s.params.emplace_back(name.substr(6), t);
    else if (name.rfind("slot/", 0) == 0)
      s.slots.emplace_back(name.substr(5), t);
  }
  return s;
}

}  // namespace tos::train
