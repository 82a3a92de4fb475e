// Checkpoints (atomic save, keep-last, corruption fallback, resume incl. optimizer and ps
// state) and the inference export.
#include "tos/train/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "tos/train/export.h"
#include "tos/train/models.h"
#include "tos/train/ps.h"
#include "tos/train/ps_client.h"
#include "train/test_util.h"

namespace tos::train {
namespace {

using namespace std::chrono_literals;

void TrainSteps(Model& model, torch::optim::Optimizer& opt, int steps, int seed) {
  torch::manual_seed(seed);
  for (int i = 0; i < steps; ++i) {
    auto x = torch::randint(0, 256, {8, 784}, torch::kUInt8);
    auto y = torch::randint(0, 10, {8}, torch::kInt64);
    opt.zero_grad();
    torch::nn::functional::cross_entropy(model.forward(x), y).backward();
    opt.step();
  }
}

bool SameParams(const torch::nn::Module& a, const torch::nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i) {
    if (!torch::equal(pa[i], pb[i])) return false;
  }
  return true;
}

CheckpointManager Manager(const std::string& dir, int keep = 3) {
  CheckpointOptions o;
  o.model_dir = dir;
  o.keep_last = keep;
  return CheckpointManager::Open(o).value();
}

TEST(Checkpoint, ResumeContinuesGlobalStepAndOptimizerState) {
  const std::string dir = testing::MakeTempDir("ckpt");
  auto model = MakeModel("mlp").value();
  torch::optim::Adagrad opt(model->parameters(), torch::optim::AdagradOptions(0.01));
  TrainSteps(*model, opt, 5, 1);
  auto mgr = Manager(dir);
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", &opt, 5)).ok());

  // Reference: keep training the original for 5 more steps.
  TrainSteps(*model, opt, 5, 2);

  // Resume in a fresh model + optimizer and train the same 5 steps: identical result only if
  // the Adagrad accumulators were restored too.
  auto resumed = MakeModel("mlp").value();
  torch::optim::Adagrad opt2(resumed->parameters(), torch::optim::AdagradOptions(0.01));
  auto ckpt = mgr.LoadLatest();
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->global_step, 5);
  EXPECT_EQ(ckpt->model_type, "mlp");
  ASSERT_TRUE(RestoreModel(*ckpt, resumed.get(), &opt2).ok());
  TrainSteps(*resumed, opt2, 5, 2);
  EXPECT_TRUE(SameParams(*model, *resumed));
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*resumed, "mlp", &opt2, ckpt->global_step + 5)).ok());
  EXPECT_EQ(mgr.LoadLatest()->global_step, 10);
}

TEST(Checkpoint, ShouldSaveEveryNStepsFromTheLastSaveOrResume) {
  CheckpointOptions o;
  o.model_dir = testing::MakeTempDir("ckpt");
  o.save_every_steps = 10;
  auto mgr = CheckpointManager::Open(o).value();
  EXPECT_FALSE(mgr.ShouldSave(9));
  EXPECT_TRUE(mgr.ShouldSave(10));
  auto model = MakeModel("mlp").value();
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 12)).ok());
  EXPECT_FALSE(mgr.ShouldSave(21));
  EXPECT_TRUE(mgr.ShouldSave(22));
  auto resumed = CheckpointManager::Open(o).value();
  ASSERT_TRUE(resumed.LoadLatest().ok());
  EXPECT_FALSE(resumed.ShouldSave(21));
  EXPECT_TRUE(resumed.ShouldSave(22));
}

TEST(Checkpoint, KeepsOnlyTheLastK) {
  const std::string dir = testing::MakeTempDir("ckpt");
  auto mgr = Manager(dir, 2);
  auto model = MakeModel("mlp").value();
  for (int step : {10, 20, 30, 40})
    ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, step)).ok());
  auto files = mgr.List();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].find("ckpt-000000000040.tosckpt"), std::string::npos);
  EXPECT_NE(files[1].find("ckpt-000000000030.tosckpt"), std::string::npos);
}

void Corrupt(const std::string& path, bool truncate) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  if (truncate) {
    bytes.resize(bytes.size() / 2);
  } else {
    bytes[bytes.size() / 2] ^= 0x40;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(Checkpoint, CorruptLatestIsRejectedAndPreviousUsed) {
  const std::string dir = testing::MakeTempDir("ckpt");
  auto mgr = Manager(dir);
  auto model = MakeModel("mlp").value();
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 100)).ok());
  auto latest = mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 200));
  ASSERT_TRUE(latest.ok());
  Corrupt(*latest, /*truncate=*/false);
  auto direct = ReadCheckpointFile(*latest);
  EXPECT_EQ(direct.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(direct.status().message().find("SHA-256 mismatch"), std::string::npos)
      << direct.status().ToString();
  EXPECT_NE(direct.status().message().find(*latest), std::string::npos);
  std::vector<std::string> skipped;
  auto loaded = mgr.LoadLatest(&skipped);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->global_step, 100);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("ckpt-000000000200"), std::string::npos);
}

TEST(Checkpoint, SaveAfterFallbackSetsAsideTheUnreadableNewerCheckpoint) {
  const std::string dir = testing::MakeTempDir("ckpt");
  auto mgr = Manager(dir, 1);
  auto model = MakeModel("mlp").value();
  auto first = mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 100));
  ASSERT_TRUE(first.ok());
  // Simulate a newer checkpoint that is corrupt (e.g. a disk error after the rename).
  const std::string bad = dir + "/ckpt-000000000200.tosckpt";
  std::filesystem::copy_file(*first, bad);
  Corrupt(bad, /*truncate=*/false);
  ASSERT_EQ(mgr.LoadLatest()->global_step, 100);
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 150)).ok());
  EXPECT_FALSE(std::filesystem::exists(bad));
  EXPECT_TRUE(std::filesystem::exists(bad + ".unreadable")) << "an unreadable checkpoint is kept";
  ASSERT_EQ(mgr.List().size(), 1u);
  EXPECT_EQ(mgr.LoadLatest()->global_step, 150);
}

TEST(Checkpoint, ResumeWithOnlyAnUnreadableCheckpointStartsAtZeroAndKeepsTheFile) {
  const std::string dir = testing::MakeTempDir("ckpt");
  auto mgr = Manager(dir);
  auto model = MakeModel("mlp").value();
  auto only = mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 300));
  ASSERT_TRUE(only.ok());
  Corrupt(*only, /*truncate=*/false);
  EXPECT_FALSE(mgr.Resume(/*set_aside_unreadable=*/true).has_value());
  EXPECT_TRUE(std::filesystem::exists(*only + ".unreadable"));
  // The next save must not delete it either.
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 10)).ok());
  EXPECT_TRUE(std::filesystem::exists(*only + ".unreadable"));
  EXPECT_EQ(mgr.LoadLatest()->global_step, 10);
}

TEST(Checkpoint, TruncatedFileAndLeftoverTemporaryAreNeverLoaded) {
  const std::string dir = testing::MakeTempDir("ckpt");
  auto mgr = Manager(dir);
  auto model = MakeModel("mlp").value();
  ASSERT_TRUE(mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 1)).ok());
  auto latest = mgr.Save(CheckpointFromModel(*model, "mlp", nullptr, 2));
  ASSERT_TRUE(latest.ok());
  Corrupt(*latest, /*truncate=*/true);
  auto direct = ReadCheckpointFile(*latest);
  EXPECT_EQ(direct.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(direct.status().message().find("truncated"), std::string::npos)
      << direct.status().ToString();
  // A crash during a save leaves only a temporary file, which is not a checkpoint.
  std::ofstream(dir + "/ckpt-000000000003.tosckpt.tmp.12345") << "partial";
  EXPECT_EQ(mgr.LoadLatest()->global_step, 1);
  EXPECT_EQ(mgr.List().size(), 2u);
}

TEST(Checkpoint, EmptyDirectoryIsNotFound) {
  auto mgr = Manager(testing::MakeTempDir("ckpt"));
  EXPECT_EQ(mgr.LoadLatest().status().code(), StatusCode::kNotFound);
}

TEST(Checkpoint, ParameterServerStateRoundTrip) {
  PsServerOptions so;
  so.secret = "s";
  so.bind_host = "127.0.0.1";
  auto server = PsServer::Start(so).value();
  PsClientOptions co;
  co.ps_addresses = {"127.0.0.1:" + std::to_string(server->port())};
  co.secret = "s";
  co.rpc_timeout = 20s;
  torch::Tensor w = torch::tensor({1.0f, 2.0f});
  w.mutable_grad() = torch::tensor({0.5f, -0.5f});
  auto client = PsClient::Create(co, {{"w", w}}).value();
  OptimizerSpec adam;
  adam.type = "adam";
  adam.learning_rate = 0.1;
  ASSERT_TRUE(client->Initialize(adam).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->PushGradients().ok());
  auto state = client->GetState();
  ASSERT_TRUE(state.ok());
  const std::string dir = testing::MakeTempDir("psckpt");
  auto mgr = Manager(dir);
  ASSERT_TRUE(mgr.Save(CheckpointFromPsState(*state, "custom")).ok());
  // Continue on the old ps for one step: the reference.
  ASSERT_TRUE(client->PushGradients().ok());
  const torch::Tensor reference = w.clone();
  server->Stop();
  ASSERT_TRUE(server->Wait(10s).ok());

  // A fresh ps restored from the checkpoint must produce the same next step.
  auto server2 = PsServer::Start(so).value();
  co.ps_addresses = {"127.0.0.1:" + std::to_string(server2->port())};
  torch::Tensor w2 = torch::zeros({2});
  w2.mutable_grad() = torch::tensor({0.5f, -0.5f});
  auto client2 = PsClient::Create(co, {{"w", w2}}).value();
  auto restored = PsStateFromCheckpoint(*mgr.LoadLatest());
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->optimizer.type, "adam");
  ASSERT_TRUE(client2->Initialize(OptimizerSpec{}, &*restored).ok());
  ASSERT_TRUE(client2->WaitInitialized(10s).ok());
  EXPECT_EQ(client2->global_step(), 3);
  ASSERT_TRUE(client2->PushGradients().ok());
  EXPECT_EQ(client2->global_step(), 4);
  EXPECT_TRUE(torch::equal(w2, reference)) << w2 << reference;
}

TEST(Export, LoadedModelPredictsLikeTheOriginal) {
  const std::string dir = testing::MakeTempDir("export") + "/export";
  for (std::string type : {"mlp", "cnn"}) {
    auto model = MakeModel(type).value();
    ASSERT_TRUE(ExportModel(*model, dir, 42).ok());
    auto loaded = LoadExportedModel(dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(loaded->model->type(), type);
    EXPECT_EQ(loaded->global_step, 42);
    auto x = torch::randint(0, 256, {4, 784}, torch::kUInt8);
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::allclose(model->forward(x), loaded->model->forward(x)));
  }
  std::filesystem::remove(dir + "/model.json");
  EXPECT_EQ(LoadExportedModel(dir).status().code(), StatusCode::kNotFound);
}

TEST(Export, OneChangedByteOfModelPtIsRefusedNamingTheFile) {
  const std::string dir = testing::MakeTempDir("export") + "/export";
  auto model = MakeModel("mlp").value();
  ASSERT_TRUE(ExportModel(*model, dir, 7).ok());
  std::fstream f(dir + "/model.pt", std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0, std::ios::end);
  const std::streamoff middle = f.tellg() / 2;
  char c = 0;
  f.seekg(middle);
  f.get(c);
  f.seekp(middle);
  f.put(static_cast<char>(c ^ 1));
  f.close();
  auto loaded = LoadExportedModel(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(dir + "/model.pt"), std::string::npos)
      << loaded.status().ToString();
  EXPECT_NE(loaded.status().message().find("SHA-256"), std::string::npos);
}

// A run that restarted from step 0 (its checkpoints unreadable) exports step 30 where an
// export of step 500 lies: that one is kept, renamed, never replaced by a less trained model.
TEST(Export, AModelJsonWithAFieldOfTheWrongTypeIsRefusedNamingIt) {
  const std::string dir = testing::MakeTempDir("export") + "/export";
  auto model = MakeModel("mlp").value();
  ASSERT_TRUE(ExportModel(*model, dir, 7).ok());
  std::ifstream in(dir + "/model.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = "\"model_pt_bytes\": ";
  const size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at + key.size(), text.find(',', at) - at - key.size(), "\"many\"");
  std::ofstream(dir + "/model.json", std::ios::trunc) << text;
  auto loaded = LoadExportedModel(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(dir + "/model.json: \"model_pt_bytes\" must be"),
            std::string::npos)
      << loaded.status().ToString();
}

TEST(Export, AFurtherTrainedExportIsKeptNotReplaced) {
  const std::string dir = testing::MakeTempDir("export") + "/export";
  auto model = MakeModel("mlp").value();
  ASSERT_TRUE(ExportModel(*model, dir, 500).ok());
  ASSERT_TRUE(ExportModel(*model, dir, 30).ok());
  auto fresh = LoadExportedModel(dir);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->global_step, 30);
  auto kept = LoadExportedModel(dir + ".step-500");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->global_step, 500);
  // Later steps replace an export as before.
  ASSERT_TRUE(ExportModel(*model, dir, 60).ok());
  EXPECT_EQ(LoadExportedModel(dir)->global_step, 60);
  EXPECT_FALSE(std::filesystem::exists(dir + ".step-30"));
}

}  // namespace
}  // namespace tos::train
