// The node side of mnist_spark: parameter servers, training workers (ps or allreduce) and
// inference workers.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "mnist_args.h"
#include "mnist_batches.h"
#include "mnist_dataset.h"
#include "mnist_device.h"
#include "tos/log.h"
#include "tos/partitioned_dir.h"
#include "tos/tos.h"
#include "tos/train/allreduce.h"
#include "tos/train/checkpoint.h"
#include "tos/train/event_writer.h"
#include "tos/train/export.h"
#include "tos/train/kv_store.h"
#include "tos/train/models.h"
#include "tos/train/ps.h"
#include "tos/train/ps_client.h"
#include "tos/train/tcp_collectives.h"
#include "tos/train/threads.h"

namespace mnist {
namespace {

using Clock = std::chrono::steady_clock;

// How long the chief waits for the slowest trainer after its own data ran out: as long as a
// training job may run (the slowest one is still making progress; a dead one fails the job).
constexpr std::chrono::hours kTrainersDoneTimeout{72};
using tos::ThrowIfError;
using tos::ValueOrThrow;

std::vector<std::string> Hosts(const tos::ClusterSpec& spec, const std::string& job) {
  auto it = spec.find(job);
  return it == spec.end() ? std::vector<std::string>{} : it->second;
}

std::string ModelDir(const Args& a, tos::Context& ctx) {
  return LocalPath(ctx.absolute_path(a.model));
}

tos::MnistDatasetSpec DatasetSpec(const Args& a, tos::Context& ctx) {
  tos::MnistDatasetSpec spec;
  spec.format = ValueOrThrow(tos::ParseDataFormat(a.format));
  spec.images = LocalPath(ctx.absolute_path(a.images));
  if (!a.labels.empty()) spec.labels = LocalPath(ctx.absolute_path(a.labels));
  spec.allow_incomplete = a.allow_incomplete;
  return spec;
}

std::unique_ptr<BatchSource> HostInput(const Args& a, tos::Context& ctx) {
  if (ctx.input_mode() == tos::InputMode::kSpark) {
    if (a.format == "parquet") return ColumnBatches(ctx.data_feed("input"));
    return FeedBatches(ctx.data_feed("input"));
  }
  if (a.format == "parquet") {
    // Direct mode on Parquet: this worker's row groups, read by the node itself.
    tos::ParquetShardOptions po;
    po.path = ctx.absolute_path(a.images);
    po.shard_index = static_cast<size_t>(ctx.worker_index());
    po.num_shards = static_cast<size_t>(ctx.num_workers());
    po.columns = {"image", "label"};
    po.expect = MnistColumns().expect;
    po.epochs = a.epochs;
    po.allow_incomplete = a.allow_incomplete;
    return ParquetBatches(ValueOrThrow(tos::ParquetShard::Open(po)));
  }
  std::shared_ptr<const tos::RecordSource> source =
      ValueOrThrow(tos::OpenMnistRecordSource(DatasetSpec(a, ctx)));
  tos::ShardReaderOptions o;
  o.shard_index = ctx.worker_index();
  o.num_shards = ctx.num_workers();
  o.readers = a.readers;
  o.shuffle_buffer = static_cast<size_t>(a.shuffle_buffer);
  o.epochs = a.epochs;
  o.seed = 7;
  return ShardBatches(ValueOrThrow(tos::ShardReader::Open(source, o)));
}

std::unique_ptr<BatchSource> TrainingInput(const Args& a, tos::Context& ctx, torch::Device device) {
  auto input = HostInput(a, ctx);
  if (device.is_cpu()) return input;
  return std::make_unique<DeviceBatches>(std::move(input), device);
}

tos::train::OptimizerSpec Optimizer(const Args& a) {
  tos::train::OptimizerSpec spec;
  spec.type = a.optimizer;
  spec.learning_rate = a.learning_rate;
  return spec;
}

// The chief's TensorBoard scalars and progress lines.
class Reporter {
 public:
  Reporter(const Args& a, tos::Context& ctx)
      : args_(a), ctx_(ctx), start_(Clock::now()), last_(start_) {
    if (ctx.is_chief()) {
      auto w = tos::train::EventWriter::Create(LocalPath(ctx.absolute_path(a.log_dir)));
      if (w.ok()) {
        events_ = std::move(w).value();
      } else {
        tos::LogWarning("no TensorBoard events: " + w.status().message());
      }
    }
  }
  // Called every step with the step's loss tensor and logits (cheap unless it reports).
  void Step(int64_t step, size_t batch, const torch::Tensor& loss, const torch::Tensor& logits,
            const torch::Tensor& labels) {
    samples_ += batch;
    ctx_.ReportProgress();
    if (!ctx_.is_chief() || step - last_step_ < 100) return;
    auto now = Clock::now();
    double secs = std::chrono::duration<double>(now - last_).count();
    double rate = (samples_ - last_samples_) / std::max(secs, 1e-9);
    float l = loss.item<float>();
    float acc = logits.argmax(1).eq(labels).to(torch::kFloat32).mean().item<float>();
    if (events_) {
      (void)events_->AddScalar("loss", l, step);
      (void)events_->AddScalar("accuracy", acc, step);
      (void)events_->AddScalar("samples_per_sec", static_cast<float>(rate), step);
      (void)events_->AddScalar("learning_rate", static_cast<float>(args_.learning_rate), step);
      (void)events_->Flush();
    }
    std::printf("step %lld: loss %.4f, batch accuracy %.3f, %.0f samples/s on this worker\n",
                static_cast<long long>(step), l, acc, rate);
    std::fflush(stdout);
    ctx_.SetStatus("training, global step " + std::to_string(step));
    last_ = now;
    last_samples_ = samples_;
    last_step_ = step;
  }
  // Says which limit ended training: TensorFlowOnSpark's rule is whichever of --steps and
  // --epochs comes first, and a user should not have to guess which one it was.
  void Finish(int64_t step) {
    double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    std::printf("worker %d done: global step %lld, %llu samples in %.2f s (%.0f samples/s)\n",
                ctx_.worker_index(), static_cast<long long>(step),
                static_cast<unsigned long long>(samples_), secs, samples_ / std::max(secs, 1e-9));
    if (step >= args_.steps) {
      std::printf(
          "worker %d stopped at the step limit (--steps %d) before its data of --epochs %d ran "
          "out; raise "
          "--steps to train on all of it\n",
          ctx_.worker_index(), args_.steps, args_.epochs);
    } else {
      std::printf(
          "worker %d stopped when its data ran out (--epochs %d), before the step limit (--steps "
          "%d)\n",
          ctx_.worker_index(), args_.epochs, args_.steps);
    }
    std::fflush(stdout);
    if (events_) (void)events_->Close();
  }

 private:
  const Args& args_;
  tos::Context& ctx_;
  std::unique_ptr<tos::train::EventWriter> events_;
  Clock::time_point start_, last_;
  uint64_t samples_ = 0, last_samples_ = 0;
  int64_t last_step_ = 0;
};

void SaveAndExport(tos::train::CheckpointManager& mgr, const tos::train::Checkpoint& ckpt,
                   const tos::train::Model& model, const std::string& model_dir) {
  auto path = ValueOrThrow(mgr.Save(ckpt));
  ThrowIfError(tos::train::ExportModel(model, model_dir + "/export", ckpt.global_step));
  std::printf("saved %s and exported the model to %s/export\n", path.c_str(), model_dir.c_str());
}

void RunPs(const Args& a, tos::Context& ctx) {
  tos::train::PsServerOptions o;
  o.shard = ctx.task_index();
  o.num_shards = static_cast<int>(Hosts(ctx.cluster_spec(), "ps").size());
  o.num_workers = ctx.num_workers();
  o.secret = ctx.secret();
  o.synchronous = a.sync;
  o.reserved_fd = ctx.reserved_port().TakeFd();
  auto server = ValueOrThrow(tos::train::PsServer::Start(o));
  ctx.SetStatus("serving parameters (shard " + std::to_string(o.shard) + ")");
  while (!ctx.WaitForStop(std::chrono::milliseconds(500))) {
    if (server->Wait(std::chrono::milliseconds(0)).ok()) break;  // stopped by the chief
  }
  server->Stop();
  ThrowIfError(server->Wait(std::chrono::seconds(30)));
}

void TrainPs(const Args& a, tos::Context& ctx, torch::Device device) {
  auto model = ValueOrThrow(tos::train::MakeModel(a.model_type));
  // On a GPU the ps client works on pinned host copies of the parameters (mnist_device.h).
  model->to(device);
  std::unique_ptr<HostStaging> staging;
  if (device.is_cuda()) staging = std::make_unique<HostStaging>(*model);
  tos::train::PsClientOptions co;
  co.ps_addresses = Hosts(ctx.cluster_spec(), "ps");
  co.secret = ctx.secret();
  co.worker_index = ctx.worker_index();
  auto client = ValueOrThrow(tos::train::PsClient::Create(
      co, staging ? staging->named() : tos::train::NamedParameters(*model)));
  const std::string model_dir = ModelDir(a, ctx);
  std::unique_ptr<tos::train::CheckpointManager> mgr;
  if (ctx.is_chief()) {
    mgr = std::make_unique<tos::train::CheckpointManager>(
        ValueOrThrow(tos::train::CheckpointManager::Open({model_dir, 5, a.checkpoint_steps})));
    auto latest = mgr->Resume(/*set_aside_unreadable=*/true);
    if (latest) {
      auto state = ValueOrThrow(tos::train::PsStateFromCheckpoint(*latest));
      std::printf("resuming from global step %lld in %s\n",
                  static_cast<long long>(state.global_step), model_dir.c_str());
      ThrowIfError(client->Initialize(Optimizer(a), &state));
    } else {
      ThrowIfError(client->Initialize(Optimizer(a)));
    }
  }
  ctx.SetStatus("waiting for the parameter servers to be initialised");
  ThrowIfError(client->WaitInitialized(std::chrono::minutes(10)));
  if (staging) staging->ValuesToDevice();
  auto input = TrainingInput(a, ctx, device);
  Reporter report(a, ctx);
  torch::Tensor images, labels;
  int64_t step = client->global_step();
  ctx.SetStatus("training");
  while (step < a.steps && input->Next(static_cast<size_t>(a.batch_size), &images, &labels)) {
    model->zero_grad();
    auto logits = model->forward(images);
    auto loss = torch::nn::functional::cross_entropy(logits, labels);
    loss.backward();
    if (staging) staging->GradientsToHost();
    ThrowIfError(client->PushGradients(true));
    if (staging) staging->ValuesToDevice();
    step = client->global_step();
    report.Step(step, static_cast<size_t>(images.size(0)), loss, logits, labels);
    if (mgr && mgr->ShouldSave(step)) {
      (void)ValueOrThrow(mgr->Save(
          tos::train::CheckpointFromPsState(ValueOrThrow(client->GetState()), a.model_type)));
    }
  }
  input->Stop();
  // In synchronous mode the others' rounds must not wait for this worker any more.
  ThrowIfError(client->Leave());
  report.Finish(step);
  // The final save must hold every trainer's last update, not only the chief's: trainers run
  // out of data at different times. A failed trainer fails the job, which ends this wait.
  ctx.WaitForTrainers("training done", kTrainersDoneTimeout);
  if (mgr) {
    auto state = ValueOrThrow(client->GetState());
    std::printf("all %d trainers done at global step %lld\n", ctx.num_workers(),
                static_cast<long long>(state.global_step));
    ThrowIfError(client->Pull());
    if (staging) staging->ValuesToDevice();
    model->to(torch::kCPU);  // an export loads anywhere, also where there is no GPU
    SaveAndExport(*mgr, tos::train::CheckpointFromPsState(state, a.model_type), *model, model_dir);
  }
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const Args& a,
                                                       std::vector<torch::Tensor> params) {
  if (a.optimizer == "adagrad") {
    return std::make_unique<torch::optim::Adagrad>(
        params, torch::optim::AdagradOptions(a.learning_rate).initial_accumulator_value(0.1));
  }
  if (a.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(a.learning_rate));
  }
  return std::make_unique<torch::optim::SGD>(
      params,
      torch::optim::SGDOptions(a.learning_rate).momentum(a.optimizer == "momentum" ? 0.9 : 0.0));
}

void TrainAllreduce(const Args& a, tos::Context& ctx, torch::Device device) {
  auto model = ValueOrThrow(tos::train::MakeModel(a.model_type));
  // On a GPU the ring averages pinned host copies of the gradients, and the optimizer updates
  // host copies of the parameters (its state stays on the host: checkpoints load anywhere);
  // the device computes the forward and backward passes (mnist_device.h).
  model->to(device);
  std::unique_ptr<HostStaging> staging;
  if (device.is_cuda()) staging = std::make_unique<HostStaging>(*model);
  std::vector<torch::Tensor> params = staging ? staging->tensors() : model->parameters();
  auto opt = MakeOptimizer(a, params);
  const std::string model_dir = ModelDir(a, ctx);
  auto mgr = ValueOrThrow(tos::train::CheckpointManager::Open({model_dir, 5, a.checkpoint_steps}));
  int64_t step = 0;
  // Every worker restores the same checkpoint, so parameters and optimizer state agree.
  // Only the chief renames unreadable files, so the workers never race over them.
  auto latest = mgr.Resume(/*set_aside_unreadable=*/ctx.is_chief());
  if (latest) {
    ThrowIfError(tos::train::RestoreModel(*latest, model.get(), opt.get()));
    if (staging) staging->ValuesToHost();
    step = latest->global_step;
    if (ctx.is_chief())
      std::printf("resuming from global step %lld in %s\n", static_cast<long long>(step),
                  model_dir.c_str());
  }
  ctx.SetStatus("allreduce rendezvous");
  auto coll = ValueOrThrow(tos::train::ConnectTrainers(ctx, "allreduce"));
  // "Every rank still has data" rides in the gradient buckets as one extra value, so ending
  // together costs no collective of its own.
  auto has_data = torch::zeros({1}, torch::kFloat32);
  std::vector<torch::Tensor> exchanged = params;
  exchanged.push_back(has_data);
  auto allreducer = ValueOrThrow(tos::train::GradientAllreducer::Create(coll.get(), exchanged));
  ThrowIfError(allreducer->BroadcastParameters(0));
  if (staging) staging->ValuesToDevice();
  auto input = TrainingInput(a, ctx, device);
  Reporter report(a, ctx);
  torch::Tensor images, labels;
  ctx.SetStatus("training");
  const float all_have_data = 1.0f - 0.5f / static_cast<float>(coll->size());
  torch::Tensor loss, logits;
  while (step < a.steps) {
    // All ranks step together and stop together as soon as any of them runs out of data.
    bool more = input->Next(static_cast<size_t>(a.batch_size), &images, &labels);
    // The host gradients are overwritten by GradientsToHost: only the device's need zeroing.
    if (staging) {
      model->zero_grad();
    } else {
      opt->zero_grad();
    }
    if (more) {
      logits = model->forward(images);
      loss = torch::nn::functional::cross_entropy(logits, labels);
      loss.backward();
    }
    if (staging) staging->GradientsToHost();
    has_data.mutable_grad() = torch::full({1}, more ? 1.0f : 0.0f);
    ThrowIfError(allreducer->AverageGradients());
    if (has_data.grad().item<float>() < all_have_data) break;
    opt->step();
    if (staging) staging->ValuesToDevice();
    ++step;
    report.Step(step, static_cast<size_t>(images.size(0)), loss, logits, labels);
    if (ctx.is_chief() && mgr.ShouldSave(step)) {
      (void)ValueOrThrow(
          mgr.Save(tos::train::CheckpointFromModel(*model, a.model_type, opt.get(), step)));
    }
  }
  input->Stop();
  report.Finish(step);
  // Proof of lockstep training: every worker reports the same parameter checksum.
  double checksum = 0;
  for (auto& p : params) checksum += p.to(torch::kFloat64).sum().item<double>();
  std::printf("parameter checksum %.17g at step %lld\n", checksum, static_cast<long long>(step));
  model->to(torch::kCPU);  // an export loads anywhere, also where there is no GPU
  if (ctx.is_chief())
    SaveAndExport(mgr, tos::train::CheckpointFromModel(*model, a.model_type, opt.get(), step),
                  *model, model_dir);
}

std::vector<std::string> Predict(tos::train::Model& model, const torch::Tensor& images,
                                 const torch::Tensor& labels, torch::Device device) {
  torch::NoGradGuard no_grad;
  auto pred = model.forward(images.to(device)).argmax(1).to(torch::kCPU);
  std::vector<std::string> out(static_cast<size_t>(labels.size(0)));
  auto p = pred.accessor<int64_t, 1>();
  auto l = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < labels.size(0); ++i)
    out[i] = std::to_string(l[i]) + " " + std::to_string(p[i]);
  return out;
}

void Inference(const Args& a, tos::Context& ctx, torch::Device device) {
  const std::string model_dir = ModelDir(a, ctx);
  auto exported = ValueOrThrow(tos::train::LoadExportedModel(model_dir + "/export"));
  auto& model = *exported.model;
  model.to(device);
  torch::Tensor images, labels;
  if (ctx.input_mode() == tos::InputMode::kSpark && a.format == "parquet") {
    // A DataFrame: one prediction per row, returned to Spark as a column.
    tos::ColumnFeed columns(ctx.data_feed("input"), MnistColumns());
    for (;;) {
      auto batch = columns.next_batch(static_cast<size_t>(a.batch_size));
      if (batch.empty()) break;
      ToTensors(batch, &images, &labels);
      torch::NoGradGuard no_grad;
      auto pred = model.forward(images.to(device)).argmax(1).to(torch::kCPU).contiguous();
      columns.batch_results(
          std::vector<int64_t>(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.size(0)));
      ctx.ReportProgress();
    }
    return;
  }
  if (ctx.input_mode() == tos::InputMode::kSpark) {
    auto& feed = ctx.data_feed("input");
    for (;;) {
      auto batch = feed.next_batch(static_cast<size_t>(a.batch_size));
      if (batch.empty()) break;
      ToTensors(batch, &images, &labels);
      feed.batch_results(Predict(model, images, labels, device));
      ctx.ReportProgress();
    }
    return;
  }
  // Direct mode: this worker predicts its shard's partitions and writes their outputs; the
  // driver writes _SUCCESS once every worker succeeded.
  auto source = ValueOrThrow(tos::OpenMnistRecordSource(DatasetSpec(a, ctx)));
  const std::string out_dir = LocalPath(ctx.absolute_path(a.output));
  std::vector<std::string> records;
  for (size_t p = ctx.worker_index(); p < source->num_partitions(); p += ctx.num_workers()) {
    auto reader = ValueOrThrow(source->OpenPartition(p));
    auto part = ValueOrThrow(tos::CreatePartFile(out_dir, tos::PartFileName(p)));
    auto flush = [&] {
      if (records.empty()) return;
      ToTensors(std::vector<std::string_view>(records.begin(), records.end()), "bytes", &images,
                &labels);
      std::string text;
      for (auto& line : Predict(model, images, labels, device)) text += line + "\n";
      ThrowIfError(part->Append(text));
      records.clear();
    };
    std::string_view rec;
    while (ValueOrThrow(reader->Next(&rec))) {
      records.emplace_back(rec);
      if (records.size() == static_cast<size_t>(a.batch_size)) flush();
    }
    flush();
    ThrowIfError(part->Close());
    ctx.ReportProgress();
  }
}

// The trainers' device (--device); says where they compute when it is a GPU.
torch::Device TrainerDevice(const Args& a, tos::Context& ctx) {
  torch::Device device = ValueOrThrow(ResolveDevice(a.device));
  if (device.is_cuda()) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    std::printf("%s:%d computes on %s (CUDA_VISIBLE_DEVICES=%s)\n", ctx.job_name().c_str(),
                ctx.task_index(), device.str().c_str(), visible ? visible : "<not set>");
    std::fflush(stdout);
  }
  return device;
}

}  // namespace

tos::Status CudaUsableHere() { return CudaUsable(); }

void MapFun(const Args& a, tos::Context& ctx) {
  const bool trainer = ctx.job_name() != "ps" && ctx.job_name() != "evaluator";
  // Before anything else asks libtorch about CUDA (a seed does): libtorch keeps its first answer.
  const torch::Device device = trainer ? TrainerDevice(a, ctx) : torch::Device(torch::kCPU);
  auto threads = tos::train::ConfigureThreads(ctx.threads());
  if (!threads.ok()) tos::LogWarning("thread settings: " + threads.status().message());
  if (a.seed != 0) torch::manual_seed(static_cast<uint64_t>(a.seed));
  if (ctx.job_name() == "ps") return RunPs(a, ctx);
  if (ctx.job_name() == "evaluator") {
    ctx.WaitForStop(std::chrono::hours(72));
    return;
  }
  if (a.mode == "inference") return Inference(a, ctx, device);
  if (a.strategy == "allreduce") return TrainAllreduce(a, ctx, device);
  TrainPs(a, ctx, device);
}

}  // namespace mnist
