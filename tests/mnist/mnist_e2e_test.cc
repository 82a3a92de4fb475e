// End-to-end runs of build/bin/mnist_spark on Fashion-MNIST with real node processes:
// parameter servers (async, sync), allreduce, both input modes, inference, resume, failures,
// TensorBoard event files.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "idx.h"
#include "test_util.h"

namespace tos {
namespace {

using std::chrono::seconds;
using testing::ReadAll;
using testing::RunProgram;
using testing::TempDir;

const std::string kBin = TOS_BIN_DIR;
const std::string kFashion = "/usr/share/datasets/fashion-mnist";

class MnistTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir();
    for (std::string format : {"csv", "tfr"}) {
      auto r = RunProgram({kBin + "/mnist_data_setup", "--format", format, "--output",
                           (*data_) / format, "--num-partitions", "6"},
                          (*data_) / ("setup-" + format + ".txt"));
      ASSERT_EQ(r.code, 0) << r.output;
    }
  }
  static void TearDownTestSuite() { delete data_; }

  std::vector<std::string> Train(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {
        kBin + "/mnist_spark", "--mode",      "train",        "--model", dir_ / "model",
        "--log_dir",           dir_ / "logs", "--batch_size", "100"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  std::vector<std::string> CsvTrain() {
    return {"--format", "csv",
            "--images", (*data_) / "csv/train/images",
            "--labels", (*data_) / "csv/train/labels"};
  }
  std::vector<std::string> TfrTrain() {
    return {"--format", "tfr", "--images", (*data_) / "tfr/train"};
  }
  std::vector<std::string> Cat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // Runs inference on the test set and checks one "<label> <prediction>" line per test image,
  // in the test set's order; returns the accuracy.
  double InferAndCheck(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {kBin + "/mnist_spark",
                                     "--mode",
                                     "inference",
                                     "--model",
                                     dir_ / "model",
                                     "--log_dir",
                                     dir_ / "logs",
                                     "--format",
                                     "csv",
                                     "--images",
                                     (*data_) / "csv/test/images",
                                     "--labels",
                                     (*data_) / "csv/test/labels",
                                     "--output",
                                     dir_ / "predictions",
                                     "--cluster_size",
                                     "3"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = RunProgram(argv, dir_ / "infer.txt");
    EXPECT_EQ(r.code, 0) << r.output;
    auto truth = ReadMnistIdx(kFashion + "/t10k-images-idx3-ubyte.gz",
                              kFashion + "/t10k-labels-idx1-ubyte.gz");
    EXPECT_TRUE(truth.ok());
    size_t i = 0, correct = 0;
    for (int p = 0; p < 6; ++p) {
      char name[32];
      std::snprintf(name, sizeof(name), "predictions/part-%05d", p);
      std::istringstream in(ReadAll(dir_ / name));
      int label, pred;
      while (in >> label >> pred) {
        EXPECT_LT(i, truth->n);
        if (i < truth->n) {
          EXPECT_EQ(label, truth->labels[i]) << "line " << i << " out of order";
        }
        correct += label == pred;
        ++i;
      }
    }
    EXPECT_EQ(i, 10000u);
    EXPECT_TRUE(testing::FileExists(dir_ / "predictions/_SUCCESS"));
    return i ? static_cast<double>(correct) / i : 0;
  }

  static TempDir* data_;
  TempDir dir_;
};
TempDir* MnistTest::data_ = nullptr;

TEST_F(MnistTest, ParameterServerAsyncFeedModeThenInference) {
  auto r =
      RunProgram(Cat(Train({"--cluster_size", "3", "--num_ps", "1", "--steps", "300"}), CsvTrain()),
                 dir_ / "train.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("training done"), std::string::npos);
  EXPECT_NE(r.output.find(
                "stopped at the step limit (--steps 300) before its data of --epochs 1 ran out"),
            std::string::npos)
      << r.output;
  // Said before training started, with the count of records and the steps they need.
  EXPECT_NE(r.output.find(
                "warning: --steps 300 will end training before --epochs 1: about 60000 records (6 "
                "partitions of 10000) need about 600 global steps at --batch_size 100"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "model/export"));
  double acc = InferAndCheck();
  EXPECT_GT(acc, 0.6) << "300 steps of Adagrad should learn something";
}

TEST_F(MnistTest, ParameterServerSyncDirectModeStopsAtTheStepLimit) {
  auto r = RunProgram(Cat(Train({"--cluster_size", "3", "--num_ps", "1", "--sync", "--input_mode",
                                 "tensorflow", "--steps", "120", "--readers", "2"}),
                          TfrTrain()),
                      dir_ / "train.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "model/ckpt-000000000120.tosckpt")) << r.output;
  // Direct-mode inference: workers read their shards and write their parts themselves.
  EXPECT_GT(InferAndCheck({"--input_mode", "tensorflow"}), 0.5);
}

// The train split as two parts: the chief's shard (part 0) holds 10,000 records and worker
// 1's (part 1) the other 50,000, so the chief runs out of data long before worker 1.
std::string UnevenTfr(const TempDir& data, const TempDir& dir) {
  const std::string uneven = dir / "uneven";
  std::filesystem::create_directories(uneven);
  std::vector<std::string> parts;
  for (const auto& e : std::filesystem::directory_iterator(data / "tfr/train")) {
    if (e.path().filename().string().rfind("part-", 0) == 0) parts.push_back(e.path().string());
  }
  std::sort(parts.begin(), parts.end());
  EXPECT_EQ(parts.size(), 6u);
  std::string rest;
  for (size_t i = 1; i < parts.size(); ++i) rest += ReadAll(parts[i]);  // TFRecords concatenate
  testing::WriteAll(uneven + "/part-00000", ReadAll(parts[0]));
  testing::WriteAll(uneven + "/part-00001", rest);
  testing::WriteAll(uneven + "/_SUCCESS", "");
  return uneven;
}

TEST_F(MnistTest, ParameterServerFinalSaveHoldsEveryTrainersLastUpdate) {
  // The final checkpoint and export must hold all 600 updates (100 + 500 batches of 100), not
  // the global step at the moment the chief's own data ended.
  auto r = RunProgram(Train({"--cluster_size", "3", "--num_ps", "1", "--input_mode", "tensorflow",
                             "--steps", "100000", "--epochs", "1", "--checkpoint_steps", "100000",
                             "--format", "tfr", "--images", UnevenTfr(*data_, dir_)}),
                      dir_ / "train.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("all 2 trainers done at global step 600"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("warning: --steps"), std::string::npos)
      << "no warning when --steps is enough";
  EXPECT_NE(r.output.find("worker 1 stopped when its data ran out (--epochs 1), before the step "
                          "limit (--steps 100000)"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "model/ckpt-000000000600.tosckpt")) << r.output;
  EXPECT_NE(ReadAll(dir_ / "model/export/model.json").find("\"global_step\": 600"),
            std::string::npos)
      << ReadAll(dir_ / "model/export/model.json");
}

TEST_F(MnistTest, SynchronousParameterServerGoesOnWhenAWorkersDataRunsOut) {
  // Synchronous rounds: 100 with both trainers, then 400 with worker 1 alone once the chief
  // has left (without it, worker 1's next round would wait for the chief until sync_timeout).
  auto start = std::chrono::steady_clock::now();
  auto r =
      RunProgram(Train({"--cluster_size", "3", "--num_ps", "1", "--sync", "--input_mode",
                        "tensorflow", "--steps", "100000", "--epochs", "1", "--checkpoint_steps",
                        "100000", "--format", "tfr", "--images", UnevenTfr(*data_, dir_)}),
                 dir_ / "train.txt", seconds(110));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(110));
  EXPECT_NE(r.output.find("all 2 trainers done at global step 500"), std::string::npos) << r.output;
  EXPECT_NE(ReadAll(dir_ / "model/export/model.json").find("\"global_step\": 500"),
            std::string::npos)
      << ReadAll(dir_ / "model/export/model.json");
}

TEST_F(MnistTest, TwoParameterServersShareTheModel) {
  auto r =
      RunProgram(Cat(Train({"--cluster_size", "4", "--num_ps", "2", "--steps", "100"}), CsvTrain()),
                 dir_ / "train.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "logs/ps-1.log"));
}

TEST_F(MnistTest, AllreduceKeepsParametersIdenticalAcrossWorkers) {
  auto r = RunProgram(Cat(Train({"--cluster_size", "2", "--num_ps", "0", "--strategy", "allreduce",
                                 "--steps", "150"}),
                          CsvTrain()),
                      dir_ / "train.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  std::regex re("parameter checksum (\\S+) at step (\\d+)");
  std::smatch m0, m1;
  std::string l0 = ReadAll(dir_ / "logs/worker-0.log"), l1 = ReadAll(dir_ / "logs/worker-1.log");
  ASSERT_TRUE(std::regex_search(l0, m0, re)) << l0;
  ASSERT_TRUE(std::regex_search(l1, m1, re)) << l1;
  EXPECT_EQ(m0[1], m1[1]) << "workers diverged";
  EXPECT_EQ(m0[2], "150");
  EXPECT_EQ(m1[2], "150");
}

TEST_F(MnistTest, AllreduceDirectModeResumesFromTheLatestCheckpoint) {
  auto first = Cat(Train({"--cluster_size", "2", "--num_ps", "0", "--strategy", "allreduce",
                          "--input_mode", "tensorflow", "--steps", "80"}),
                   TfrTrain());
  ASSERT_EQ(RunProgram(first, dir_ / "train1.txt").code, 0) << ReadAll(dir_ / "train1.txt");
  auto second = Cat(Train({"--cluster_size", "2", "--num_ps", "0", "--strategy", "allreduce",
                           "--input_mode", "tensorflow", "--steps", "130"}),
                    TfrTrain());
  auto r = RunProgram(second, dir_ / "train2.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming from global step 80"), std::string::npos) << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "model/ckpt-000000000130.tosckpt"));
}

TEST_F(MnistTest, ParameterServerResumeContinuesTheGlobalStep) {
  ASSERT_EQ(
      RunProgram(Cat(Train({"--cluster_size", "2", "--num_ps", "1", "--steps", "60"}), CsvTrain()),
                 dir_ / "t1.txt")
          .code,
      0)
      << ReadAll(dir_ / "t1.txt");
  auto r =
      RunProgram(Cat(Train({"--cluster_size", "2", "--num_ps", "1", "--steps", "100"}), CsvTrain()),
                 dir_ / "t2.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming from global step 60"), std::string::npos) << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "model/ckpt-000000000100.tosckpt")) << r.output;
}

TEST_F(MnistTest, KilledParameterServerFailsTheJobFast) {
  auto argv =
      Cat(Train({"--cluster_size", "3", "--num_ps", "1", "--steps", "1000000", "--epochs", "100"}),
          CsvTrain());
  auto p = testing::StartProcess(argv, dir_ / "train.txt");
  std::string text =
      testing::WaitForText(dir_ / "train.txt", "samples/s on this worker", seconds(60));
  ASSERT_FALSE(text.empty()) << ReadAll(dir_ / "train.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("ps:0 \\(executor 0, pid (\\d+)\\)"))) << text;
  auto killed_at = std::chrono::steady_clock::now();
  ::kill(std::stoi(m[1]), SIGKILL);
  int code = testing::WaitProcess(p, seconds(30));
  std::string out = ReadAll(dir_ / "train.txt");
  EXPECT_NE(code, 0) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, seconds(10));
  EXPECT_NE(out.find("ps:0 (executor 0) on 127.0.0.1 failed (killed by signal 9 (SIGKILL))"),
            std::string::npos)
      << out;
}

TEST_F(MnistTest, TensorBoardReadsTheEventFiles) {
  auto r =
      RunProgram(Cat(Train({"--cluster_size", "2", "--num_ps", "1", "--steps", "250"}), CsvTrain()),
                 dir_ / "train.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  auto check =
      RunProgram({"/usr/bin/env", "python3",
                  std::string(TOS_SOURCE_DIR) + "/tests/mnist/check_events.py", dir_ / "logs"},
                 dir_ / "check.txt");
  EXPECT_EQ(check.code, 0) << check.output;
  EXPECT_NE(check.output.find("loss accuracy samples_per_sec learning_rate"), std::string::npos)
      << check.output;
}

// A dataset without _SUCCESS is refused with the flag that reads it anyway, and that flag works.
TEST_F(MnistTest, IncompleteDatasetIsRefusedAndAllowIncompleteReadsIt) {
  namespace fs = std::filesystem;
  fs::copy((*data_) / "tfr/train", dir_ / "incomplete");
  fs::remove(fs::path(dir_ / "incomplete") / "_SUCCESS");
  auto argv =
      Train({"--cluster_size", "2", "--num_ps", "0", "--strategy", "allreduce", "--input_mode",
             "tensorflow", "--steps", "20", "--format", "tfr", "--images", dir_ / "incomplete"});
  auto r = RunProgram(argv, dir_ / "refused.txt");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no _SUCCESS marker"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--allow-incomplete reads the 6 parts present"), std::string::npos)
      << r.output;
  argv.push_back("--allow-incomplete");
  r = RunProgram(argv, dir_ / "allowed.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(testing::FileExists(dir_ / "model/ckpt-000000000020.tosckpt")) << r.output;
}

TEST_F(MnistTest, FlagMistakesGetClearErrors) {
  auto r = RunProgram(Cat(Train({"--strategy", "allreduce"}), CsvTrain()), dir_ / "a.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("add --num_ps 0"), std::string::npos) << r.output;
  r = RunProgram(Cat(Train({"--rdma"}), CsvTrain()), dir_ / "b.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("no RDMA transport"), std::string::npos) << r.output;
  r = RunProgram(
      Train({"--format", "csv", "--images", dir_ / "nowhere", "--labels", dir_ / "nowhere"}),
      dir_ / "c.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("nowhere"), std::string::npos) << r.output;
}

// No GPU is needed: CUDA_VISIBLE_DEVICES="" hides any this machine has.
TEST_F(MnistTest, DeviceCudaWithoutAGpuIsRefusedBeforeAnyNodeStarts) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunProgram(Cat(Train({"--device", "cuda"}), CsvTrain()), dir_ / "cuda.txt", seconds(60),
                      {"CUDA_VISIBLE_DEVICES="});
  EXPECT_EQ(r.code, 1) << r.output;
  // A libtorch without CUDA says so; one with CUDA finds no device.
  const bool no_cuda_build = r.output.find(
                                 "--device cuda: this libtorch has no CUDA (a CPU-only "
                                 "build); use --device cpu or auto") != std::string::npos;
  const bool no_device = r.output.find(
                             "--device cuda: no CUDA device visible "
                             "(CUDA_VISIBLE_DEVICES is empty)") != std::string::npos;
  EXPECT_TRUE(no_cuda_build || no_device) << r.output;
  EXPECT_EQ(r.output.find("reservation server at"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(30)) << r.output;
  EXPECT_FALSE(testing::FileExists(dir_ / "model")) << r.output;
}

TEST_F(MnistTest, GpusPerNodeWithoutGpusIsRefusedNamingTheFlag) {
  auto r = RunProgram(Cat(Train({"--cluster_size", "3", "--gpus_per_node", "1"}), CsvTrain()),
                      dir_ / "gpus.txt", seconds(60), {"CUDA_VISIBLE_DEVICES="});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("gpus_per_node 1 asks for 2 GPUs (1 for each of 2 trainers), but 0 are "
                          "visible (CUDA_VISIBLE_DEVICES is empty)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("reservation server at"), std::string::npos) << r.output;
  r = RunProgram(Cat(Train({"--device", "gpu"}), CsvTrain()), dir_ / "flag.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("--device must be auto, cpu or cuda, not 'gpu'"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace tos
