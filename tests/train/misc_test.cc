// Thread settings, models, TensorBoard event files, loading CUDA.
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "tos/tfrecord.h"
#include "tos/train/cuda.h"
#include "tos/train/event_writer.h"
#include "tos/train/models.h"
#include "tos/train/threads.h"
#include "train/test_util.h"

namespace tos::train {
namespace {

TEST(Threads, ConfigureSetsTorchAndBlasThreads) {
  auto s = ConfigureThreads(1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->intra_op, 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_NE(s->blas, 0);  // 1 with OpenBLAS, -1 when the BLAS has no thread control
  if (s->blas != -1) {
    EXPECT_EQ(s->blas, 1);
  }
  EXPECT_EQ(ConfigureThreads(0).status().code(), StatusCode::kInvalidArgument);
}

TEST(Models, ShapesAndScaling) {
  for (std::string name : ModelNames()) {
    auto m = MakeModel(name);
    ASSERT_TRUE(m.ok()) << name;
    auto x = torch::randint(0, 256, {3, 784}, torch::kUInt8);
    EXPECT_EQ((*m)->forward(x).sizes(), (std::vector<int64_t>{3, 10}));
    EXPECT_EQ((*m)->forward(x.reshape({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
    EXPECT_TRUE(torch::allclose((*m)->forward(x), (*m)->forward(x.to(torch::kFloat32) / 255)));
  }
  auto mlp = MakeModel("mlp").value();
  int64_t n = 0;
  for (const auto& p : mlp->parameters()) n += p.numel();
  EXPECT_EQ(n, 784 * 128 + 128 + 128 * 10 + 10);
  EXPECT_EQ(MakeModel("resnet").status().code(), StatusCode::kNotFound);
}

TEST(Models, MlpLearnsASeparableProblem) {
  torch::manual_seed(0);
  auto m = MakeModel("mlp").value();
  torch::optim::Adagrad opt(m->parameters(), torch::optim::AdagradOptions(0.1));
  auto x = torch::randint(0, 256, {256, 784}, torch::kUInt8);
  auto y = x.slice(1, 0, 10).to(torch::kInt64).sum(1).remainder(2);  // parity-ish of a sum
  y = (x.to(torch::kFloat32).slice(1, 0, 392).mean(1) > x.to(torch::kFloat32).slice(1, 392).mean(1))
          .to(torch::kInt64);
  float first = 0, last = 0;
  for (int i = 0; i < 100; ++i) {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(m->forward(x), y);
    loss.backward();
    opt.step();
    if (i == 0) first = loss.item<float>();
    last = loss.item<float>();
  }
  EXPECT_LT(last, first * 0.5f);
}

TEST(EventWriter, UnwritableLogDirIsAnError) {
  const std::string dir = testing::MakeTempDir("events");
  std::ofstream(dir + "/file") << "x";  // a file where a directory is needed
  auto w = EventWriter::Create(dir + "/file/logs");
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find(dir + "/file/logs"), std::string::npos)
      << w.status().ToString();
}

TEST(EventWriter, TensorBoardReadsTheScalars) {
  const std::string dir = testing::MakeTempDir("events");
  std::string path;
  {
    auto w = EventWriter::Create(dir);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    path = (*w)->path();
    EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
    for (int step = 1; step <= 3; ++step)
      ASSERT_TRUE((*w)->AddScalar("loss", 1.0f / step, step, 1000.0 + step).ok());
    ASSERT_TRUE((*w)->AddScalar("accuracy", 0.875f, 3, 1003.5).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  auto reader = TfRecordReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<std::string> records;
  std::string rec;
  while (true) {
    auto more = (*reader)->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    records.push_back(rec);
  }
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[1], EncodeScalarEvent(1001.0, 1, "loss", 1.0f));
  EXPECT_NE(records[0].find("brain.Event:2"), std::string::npos);

  const std::string script = std::string(TOS_SOURCE_DIR) + "/tests/train/check_events.py";
  // The test environment (make test-deps, .venv/bin first on PATH) provides TensorBoard.
  ASSERT_EQ(std::system("python3 -c 'import tensorboard' >/dev/null 2>&1"), 0)
      << "the tensorboard Python package is missing: run `make test-deps` (make test does)";
  const std::string cmd = "python3 " + script + " " + path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace tos::train

namespace tos::train {
namespace {

// Programs link only libtorch's CPU libraries; LoadTorchCuda brings in its CUDA library (when
// this libtorch has one) and with it CUDA's device guard, without needing a GPU.
TEST(TorchCuda, LoadingRegistersCudaWhenThisLibtorchHasIt) {
  Status s = LoadTorchCuda();
  // The build knows whether this libtorch has a CUDA library: a miss is then a failure.
  if (!TOS_TORCH_HAS_CUDA) {
    ASSERT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
    EXPECT_NE(s.message().find("no libtorch_cuda.so in "), std::string::npos) << s.message();
    EXPECT_FALSE(c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA));
    return;
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA));
  EXPECT_TRUE(LoadTorchCuda().ok());  // again: a no-op
}

TEST(TorchCuda, CudaVisibleDevicesThatHidesEveryDeviceMeansNoGpu) {
  const char* old = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string saved = old ? old : "";
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  EXPECT_FALSE(MayHaveGpu());
  setenv("CUDA_VISIBLE_DEVICES", "-1", 1);
  EXPECT_FALSE(MayHaveGpu());
  if (old)
    setenv("CUDA_VISIBLE_DEVICES", saved.c_str(), 1);
  else
    unsetenv("CUDA_VISIBLE_DEVICES");
}

}  // namespace
}  // namespace tos::train
