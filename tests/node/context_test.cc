#include <gtest/gtest.h>

#include "node/node_state.h"

namespace tos {
namespace {

TEST(AbsolutePathTest, SchemesAreLeftAlone) {
  EXPECT_EQ(ResolvePath("hdfs://nn:8020/data", "file://", "/w", "u"), "hdfs://nn:8020/data");
  EXPECT_EQ(ResolvePath("file:///tmp/x", "hdfs://nn:8020", "/w", "u"), "file:///tmp/x");
}

TEST(AbsolutePathTest, RelativePathsResolveAgainstHdfsUserHome) {
  EXPECT_EQ(ResolvePath("mnist/csv", "hdfs://nn:8020", "/w", "alice"),
            "hdfs://nn:8020/user/alice/mnist/csv");
  EXPECT_EQ(ResolvePath("/data/mnist", "hdfs://nn:8020/", "/w", "alice"),
            "hdfs://nn:8020/data/mnist");
}

TEST(AbsolutePathTest, LocalPathsResolveAgainstWorkingDir) {
  EXPECT_EQ(ResolvePath("mnist_model", "file://", "/home/a/job/", "a"),
            "file:///home/a/job/mnist_model");
  EXPECT_EQ(ResolvePath("/abs/dir", "file://", "/home/a", "a"), "file:///abs/dir");
}

TEST(ContextTest, WorkerIndexAndChief) {
  auto s = std::make_shared<Context::State>();
  s->cluster = {{"ps", {"h:1"}}, {"worker", {"h:2", "h:3"}}};
  s->job_name = "worker";
  s->task_index = 0;
  Context c(s);
  EXPECT_TRUE(c.is_chief());  // no chief: worker 0 acts as chief
  EXPECT_EQ(c.num_workers(), 2);
  EXPECT_EQ(c.worker_index(), 0);
  s->cluster["chief"] = {"h:4"};
  EXPECT_FALSE(c.is_chief());
  EXPECT_EQ(c.worker_index(), 1);
  s->job_name = "ps";
  EXPECT_EQ(c.worker_index(), -1);
}

}  // namespace
}  // namespace tos
