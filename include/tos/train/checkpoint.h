// Checkpoints: atomic files in a model directory, the last K kept, corrupt ones detected.
//
// A checkpoint is <model_dir>/ckpt-<global step, 12 digits>.tosckpt in the format of
// docs/training.md ("Checkpoint format"): magic, a JSON header listing named tensors and
// blobs, their raw bytes, and a SHA-256 trailer over everything before it. Writing goes
// through tos::WriteFileAtomically (a temporary name in the same directory, made durable,
// length-checked, renamed into place), on a local disk or on HDFS alike, so a crash leaves
// either the previous set or the new file complete; a file that does not verify is never
// loaded (LoadLatest falls back to the previous one).
//
// Allreduce training: the chief saves model values + the torch::optim state (blob).
// Parameter-server training: the optimizer state lives on the ps; the chief pulls it with
// PsClient::GetState and saves it (FromPsState); on resume it passes ToPsState(...) to
// PsClient::Initialize, which restores values, slots and the global step on every shard.
#pragma once

#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tos/status.h"
#include "tos/train/ps_client.h"

namespace torch::optim {
class Optimizer;
}

namespace tos::train {

struct Checkpoint {
  int64_t global_step = 0;
  std::string model_type;        // e.g. "mlp"
  std::string meta_json = "{}";  // free-form JSON object (e.g. the ps optimizer spec)
  NamedTensors tensors;          // CPU tensors: float32, float64, int64, int32 or uint8
  std::vector<std::pair<std::string, std::string>> blobs;  // opaque bytes
};

// Serialized file bytes; ParseCheckpoint verifies magic, lengths and SHA-256 (DataLoss).
std::string SerializeCheckpoint(const Checkpoint& ckpt);
Result<Checkpoint> ParseCheckpoint(const std::string& bytes, const std::string& what);
// `path` is any URI a FileSystem serves (a local path, hdfs://...), as is model_dir below.
Result<Checkpoint> ReadCheckpointFile(const std::string& path);

struct CheckpointOptions {
  std::string model_dir;
  int keep_last = 5;                // older checkpoints are deleted after a successful save
  int64_t save_every_steps = 1000;  // ShouldSave cadence (0: only when the caller decides)
};

class CheckpointManager {
 public:
  // Creates model_dir (and parents) if missing.
  static Result<CheckpointManager> Open(const CheckpointOptions& options);

  // Writes ckpt-<global_step>.tosckpt atomically, sets aside (renames to .unreadable) files
  // with a higher step (left by an abandoned run, e.g. a corrupt one that resume skipped) and
  // deletes all but the newest keep_last. Returns its path.
  Result<std::string> Save(const Checkpoint& ckpt);
  // The newest checkpoint that verifies. NotFound when there is none; each newer file that
  // failed to verify is skipped and described in *skipped (may be null). With
  // set_aside_unreadable (one process per model dir: the chief) each such file is renamed to
  // <name>.unreadable, never deleted, so it neither shadows later saves nor is lost.
  Result<Checkpoint> LoadLatest(std::vector<std::string>* skipped = nullptr,
                                bool set_aside_unreadable = false) const;
  // LoadLatest for a training start: the checkpoint to resume from, or nullopt to start at
  // step 0. Unreadable checkpoints are reported as a warning naming each file and the step
  // training starts from (and set aside when set_aside_unreadable).
  std::optional<Checkpoint> Resume(bool set_aside_unreadable) const;
  // Renames an unreadable checkpoint to <path>.unreadable; says what it did.
  static std::string SetAside(const std::string& path);
  static constexpr const char* kUnreadableSuffix = ".unreadable";
  // True when global_step is at least save_every_steps past the last Save (or the step the
  // manager was opened/resumed at). The chief calls it every step and saves when it says so,
  // and saves once more at the end of training.
  bool ShouldSave(int64_t global_step) const {
    return opts_.save_every_steps > 0 && global_step - last_saved_step_ >= opts_.save_every_steps;
  }
  // Checkpoint paths, newest first.
  std::vector<std::string> List() const;
  const std::string& model_dir() const { return opts_.model_dir; }

 private:
  explicit CheckpointManager(CheckpointOptions o) : opts_(std::move(o)) {}
  CheckpointOptions opts_;
  mutable int64_t last_saved_step_ = 0;  // also set by LoadLatest (resume)
};

// Allreduce/local mode: "model/<name>" for parameters and buffers, blob "optimizer".
Checkpoint CheckpointFromModel(const torch::nn::Module& model, const std::string& model_type,
                               const torch::optim::Optimizer* optimizer, int64_t global_step);
// Copies values into the model (names and shapes must match) and, if given, the optimizer.
Status RestoreModel(const Checkpoint& ckpt, torch::nn::Module* model,
                    torch::optim::Optimizer* optimizer);

// Parameter-server mode: "model/<name>", "slot/<name>/<slot>", optimizer spec in meta_json.
Checkpoint CheckpointFromPsState(const PsState& state, const std::string& model_type);
Result<PsState> PsStateFromCheckpoint(const Checkpoint& ckpt);

}  // namespace tos::train
