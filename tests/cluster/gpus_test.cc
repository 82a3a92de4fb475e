// gpus_per_node: which GPUs the driver sees, how they are dealt to the trainers, and a job that
// asks for more than there are. No GPU is needed: CUDA_VISIBLE_DEVICES and a stand-in
// nvidia-smi say what is visible.
#include "cluster/gpus.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <optional>

#include "test_util.h"

namespace tos {
namespace {

using std::chrono::seconds;
using testing::ReadAll;
using testing::RunProgram;
using testing::TempDir;

const std::string kApp = std::string(TOS_BIN_DIR) + "/tos_test_app";

// Sets (or unsets) an environment variable for one test, and puts it back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A stand-in nvidia-smi in its own directory, which becomes the whole PATH.
std::string FakeNvidiaSmi(const TempDir& dir, const std::string& script) {
  const std::string path = dir / "nvidia-smi";
  testing::WriteAll(path, "#!/bin/sh\n" + script + "\n");
  ::chmod(path.c_str(), 0755);
  return dir.path();
}

TEST(GpusTest, CudaVisibleDevicesListsIdsAndStopsWhereCudaDoes) {
  EXPECT_EQ(ParseCudaVisibleDevices("0,1, 3"), (std::vector<std::string>{"0", "1", "3"}));
  EXPECT_EQ(ParseCudaVisibleDevices("GPU-8f2a,MIG-1c"),
            (std::vector<std::string>{"GPU-8f2a", "MIG-1c"}));
  EXPECT_TRUE(ParseCudaVisibleDevices("").empty());
  EXPECT_TRUE(ParseCudaVisibleDevices("-1").empty());
  EXPECT_EQ(ParseCudaVisibleDevices("2,-1,3"), (std::vector<std::string>{"2"}));
  EXPECT_EQ(ParseCudaVisibleDevices("4,,5"), (std::vector<std::string>{"4", "5"}));
}

TEST(GpusTest, NvidiaSmiListCountsGpusNotTheirMigDevices) {
  const std::string out =
      "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1b7c)\n"
      "  MIG 3g.40gb     Device  0: (UUID: MIG-a1)\n"
      "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-9e02)\n";
  EXPECT_EQ(GpusFromNvidiaSmi(out), (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(GpusFromNvidiaSmi("").empty());
  EXPECT_TRUE(GpusFromNvidiaSmi("No devices were found\n").empty());
}

TEST(GpusTest, TrainersGetTheirShareInExecutorOrderAndTheOthersNone) {
  VisibleGpus gpus{{"3", "5", "7", "9"}, "CUDA_VISIBLE_DEVICES=3,5,7,9"};
  RoleLayout layout{5, 1, true, true};  // ps:0, chief:0, evaluator:0, worker:0, worker:1
  auto one = DealGpus(layout, 1, gpus);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(*one, (std::vector<std::string>{"", "3", "", "5", "7"}));
  auto two = DealGpus(RoleLayout{3, 1, false, false}, 2, gpus);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(*two, (std::vector<std::string>{"", "3,5", "7,9"}));
}

TEST(GpusTest, TooFewGpusNameTheOptionTheNeedAndWhatIsVisible) {
  auto dealt = DealGpus(RoleLayout{3, 1, false, false}, 1, {{"0"}, "CUDA_VISIBLE_DEVICES=0"});
  ASSERT_FALSE(dealt.ok());
  EXPECT_EQ(dealt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dealt.status().message().find("gpus_per_node 1 asks for 2 GPUs (1 for each of 2 "
                                          "trainers), but 1 are visible (CUDA_VISIBLE_DEVICES=0)"),
            std::string::npos)
      << dealt.status().message();
  EXPECT_FALSE(DealGpus(RoleLayout{2, 0, false, false}, -1, {{"0", "1"}, ""}).ok());
}

TEST(GpusTest, TheDriversCudaVisibleDevicesComesFirst) {
  ScopedEnv visible("CUDA_VISIBLE_DEVICES", "1,2");
  VisibleGpus g = FindVisibleGpus(seconds(5));
  EXPECT_EQ(g.ids, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(g.source, "CUDA_VISIBLE_DEVICES=1,2");
  ScopedEnv empty("CUDA_VISIBLE_DEVICES", "");
  EXPECT_TRUE(FindVisibleGpus(seconds(5)).ids.empty());  // set and empty: none, not nvidia-smi's
}

TEST(GpusTest, WithoutCudaVisibleDevicesNvidiaSmiListsThem) {
  TempDir dir;
  ScopedEnv visible("CUDA_VISIBLE_DEVICES", std::nullopt);
  ScopedEnv path("PATH", FakeNvidiaSmi(dir,
                                       "[ \"$1\" = -L ] || exit 2\n"
                                       "echo 'GPU 0: Fake GPU (UUID: GPU-0)'\n"
                                       "echo 'GPU 1: Fake GPU (UUID: GPU-1)'\n"
                                       "echo 'GPU 2: Fake GPU (UUID: GPU-2)'"));
  VisibleGpus g = FindVisibleGpus(seconds(5));
  EXPECT_EQ(g.ids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_NE(g.source.find("nvidia-smi -L lists 3"), std::string::npos) << g.source;
}

TEST(GpusTest, NoNvidiaSmiOrAFailingOneMeansNoGpus) {
  TempDir dir;
  ScopedEnv visible("CUDA_VISIBLE_DEVICES", std::nullopt);
  {
    ScopedEnv path("PATH", dir.path());  // nothing there
    VisibleGpus g = FindVisibleGpus(seconds(5));
    EXPECT_TRUE(g.ids.empty());
    EXPECT_EQ(g.source, "CUDA_VISIBLE_DEVICES is not set and nvidia-smi is not on PATH");
  }
  // What nvidia-smi does on a machine whose driver is not loaded.
  ScopedEnv path("PATH", FakeNvidiaSmi(dir,
                                       "echo 'NVIDIA-SMI has failed because it could not "
                                       "communicate with the NVIDIA driver.'\nexit 9"));
  VisibleGpus g = FindVisibleGpus(seconds(5));
  EXPECT_TRUE(g.ids.empty());
  EXPECT_NE(g.source.find("failed (exit status 9)"), std::string::npos) << g.source;
}

TEST(GpusTest, AHungNvidiaSmiIsKilledAtTheTimeout) {
  TempDir dir;
  ScopedEnv visible("CUDA_VISIBLE_DEVICES", std::nullopt);
  ScopedEnv path("PATH", FakeNvidiaSmi(dir, "exec /bin/sleep 60"));
  auto start = std::chrono::steady_clock::now();
  VisibleGpus g = FindVisibleGpus(std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  EXPECT_TRUE(g.ids.empty());
  EXPECT_NE(g.source.find("did not answer within 300 ms"), std::string::npos) << g.source;
}

// The job end to end: each node's CUDA_VISIBLE_DEVICES as its map_fun saw it.
TEST(GpusTest, GpusPerNodeGivesEachTrainerItsOwnGpus) {
  TempDir dir;
  testing::WriteTextDataset(dir / "data", {{"a", "b"}, {"c"}});
  auto r = RunProgram({kApp, "--out", dir.path(), "--data", dir / "data", "--num_executors", "4",
                       "--num_ps", "1", "--chief", "1", "--gpus_per_node", "1"},
                      dir / "out.txt", seconds(90), {"CUDA_VISIBLE_DEVICES=3,5,7,9"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("GPUs of the nodes (CUDA_VISIBLE_DEVICES): ps:0 none, chief:0 3, "
                          "worker:0 5, worker:1 7"),
            std::string::npos)
      << r.output;
  ASSERT_TRUE(testing::FileExists(dir / "gpus-0")) << r.output;
  EXPECT_EQ(ReadAll(dir / "gpus-0"), "");  // the ps sees no GPU
  EXPECT_EQ(ReadAll(dir / "gpus-1"), "3");
  EXPECT_EQ(ReadAll(dir / "gpus-2"), "5");
  EXPECT_EQ(ReadAll(dir / "gpus-3"), "7");
}

TEST(GpusTest, ZeroGpusPerNodeLeavesTheNodesTheDriversGpus) {
  TempDir dir;
  testing::WriteTextDataset(dir / "data", {{"a"}, {"b"}});
  auto r = RunProgram({kApp, "--out", dir.path(), "--data", dir / "data"}, dir / "out.txt",
                      seconds(90), {"CUDA_VISIBLE_DEVICES=3,5"});
  ASSERT_EQ(r.code, 0) << r.output;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ReadAll(dir / ("gpus-" + std::to_string(i))), "3,5");
}

TEST(GpusTest, TooFewGpusFailTheJobBeforeAnyNodeStarts) {
  TempDir dir;
  testing::WriteTextDataset(dir / "data", {{"a"}, {"b"}});
  auto r = RunProgram({kApp, "--out", dir.path(), "--data", dir / "data", "--gpus_per_node", "1"},
                      dir / "out.txt", seconds(30), {"CUDA_VISIBLE_DEVICES="});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("gpus_per_node 1 asks for 2 GPUs (1 for each of 2 trainers), but 0 "
                          "are visible (CUDA_VISIBLE_DEVICES is empty)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("reservation server at"), std::string::npos) << r.output;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(testing::FileExists(dir / ("pid-" + std::to_string(i))));
}

}  // namespace
}  // namespace tos
