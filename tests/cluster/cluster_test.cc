// The whole runtime with real processes on 127.0.0.1: the driver and its nodes are the
// tos_test_app program (tests/programs), run as a user would run it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hosts.h"
#include "net/frame.h"
#include "net/socket.h"
#include "test_util.h"

namespace tos {
namespace {

using std::chrono::seconds;
using testing::ReadAll;
using testing::RunProgram;
using testing::TempDir;

const std::string kApp = std::string(TOS_BIN_DIR) + "/tos_test_app";

std::vector<std::string> App(const TempDir& dir, std::vector<std::string> flags) {
  std::vector<std::string> argv = {kApp, "--out", dir.path()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

// 5 partitions x 1000 lines.
std::string MakeData(const TempDir& dir, const std::string& name = "data",
                     std::vector<int> sizes = {1000, 1000, 1000, 1000, 1000}) {
  std::vector<std::vector<std::string>> parts;
  int n = 0;
  for (int s : sizes) {
    parts.emplace_back();
    for (int i = 0; i < s; ++i) parts.back().push_back("line-" + std::to_string(n++));
  }
  testing::WriteTextDataset(dir / name, parts);
  return dir / name;
}

uint64_t Count(const TempDir& dir, int worker) {
  std::string text = ReadAll(dir / ("count-" + std::to_string(worker)));
  return text.empty() ? 0 : std::stoull(text);
}

// Every node process the job started is gone (they write their pids).
void ExpectNoOrphans(const TempDir& dir, int n) {
  for (int i = 0; i < n; ++i) {
    std::string pid = ReadAll(dir / ("pid-" + std::to_string(i)));
    if (pid.empty()) continue;
    bool alive = true;
    for (int k = 0; k < 100 && alive; ++k) {
      alive = testing::ProcessAlive(std::stoi(pid));
      if (alive) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_FALSE(alive) << "executor " << i << " (pid " << pid << ") outlived the job";
  }
}

TEST(ClusterTest, FeedModeLifecycleOnePsTwoWorkers) {
  TempDir dir;
  auto data = MakeData(dir);
  auto r = RunProgram(App(dir, {"--scenario", "lifecycle", "--data", data, "--epochs", "2"}),
                      dir / "out.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("reservation server at 127.0.0.1:"), std::string::npos);
  EXPECT_NE(r.output.find("JOB OK"), std::string::npos);
  EXPECT_EQ(Count(dir, 0) + Count(dir, 1), 10000u);  // 2 epochs x 5000, nothing lost
  EXPECT_GT(Count(dir, 0), 0u);
  EXPECT_GT(Count(dir, 1), 0u);
  EXPECT_TRUE(testing::FileExists(dir / "stopped-ps-0"));  // ps got STOP at shutdown
  EXPECT_TRUE(testing::FileExists(dir / "logs/ps-0.log"));
  EXPECT_TRUE(testing::FileExists(dir / "logs/worker-1.log"));
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, DirectModeLifecycleOnePsTwoWorkers) {
  TempDir dir;
  auto data = MakeData(dir);
  auto r =
      RunProgram(App(dir, {"--scenario", "direct", "--input_mode", "tensorflow", "--data", data}),
                 dir / "out.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Count(dir, 0), 3000u);  // shards 0, 2, 4
  EXPECT_EQ(Count(dir, 1), 2000u);  // shards 1, 3
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, InferenceWritesOneLinePerRecordInOrder) {
  TempDir dir;
  std::vector<int> sizes = {10, 0, 3, 27, 0, 101, 1};
  auto data = MakeData(dir, "data", sizes);
  auto r =
      RunProgram(App(dir, {"--scenario", "inference", "--data", data, "--output", dir / "pred"}),
                 dir / "out.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(testing::FileExists(dir / "pred/_SUCCESS"));
  int n = 0;
  for (size_t p = 0; p < sizes.size(); ++p) {
    char name[32];
    std::snprintf(name, sizeof(name), "pred/part-%05zu", p);
    std::string expected;
    for (int i = 0; i < sizes[p]; ++i) expected += "out:line-" + std::to_string(n++) + "\n";
    EXPECT_EQ(ReadAll(dir / name), expected) << name;
  }
}

TEST(ClusterTest, MissingExecutorGivesReservationTimeoutNamingIt) {
  TempDir dir;
  auto data = MakeData(dir);
  auto r = RunProgram(
      App(dir, {"--scenario", "lifecycle", "--data", data, "--reservation_timeout", "2"}),
      dir / "out.txt", seconds(60), {"TOS_TEST_SKIP_EXECUTOR=2"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(
      r.output.find(
          "reservation timed out: 2 of 3 executors registered; missing executor(s) 2 (worker:1)"),
      std::string::npos)
      << r.output;
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, NodeThatThrowsFailsTheJobWithItsMessage) {
  TempDir dir;
  auto data = MakeData(dir);
  auto start = std::chrono::steady_clock::now();
  auto r = RunProgram(
      App(dir, {"--scenario", "throw", "--fail_after", "3", "--data", data, "--epochs", "50"}),
      dir / "out.txt");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
  EXPECT_NE(r.output.find("ERROR: Aborted: worker:1 (executor 2) on 127.0.0.1 failed (exit status "
                          "1): simulated failure in batch 3"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("last lines of"), std::string::npos);
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, NodeKilledMidFeedFailsFastWithoutOrphans) {
  TempDir dir;
  auto data = MakeData(dir);
  auto start = std::chrono::steady_clock::now();
  auto r = RunProgram(
      App(dir, {"--scenario", "kill", "--fail_after", "5", "--data", data, "--epochs", "50"}),
      dir / "out.txt");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
  EXPECT_NE(
      r.output.find("worker:1 (executor 2) on 127.0.0.1 failed (killed by signal 9 (SIGKILL))"),
      std::string::npos)
      << r.output;
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, StalledConsumerGivesFeedTimeoutNamingIt) {
  TempDir dir;
  auto data = MakeData(dir, "big", {60000, 60000, 60000, 60000});
  auto r = RunProgram(
      App(dir, {"--scenario", "stall", "--fail_after", "2", "--data", data, "--feed_timeout", "3",
                "--stall_warning", "1", "--queue_bytes", "65536"}),
      dir / "out.txt");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("feed timeout on 'input': worker:1 (executor 2)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("stalled on purpose"), std::string::npos) << r.output;
  // The heartbeat-based warning came first, naming the node and what it is doing.
  EXPECT_NE(r.output.find("worker:1 (executor 2) made no progress for"), std::string::npos)
      << r.output;
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, FrozenNodeFailsTheJobWithinNodeTimeoutNamingIt) {
  TempDir dir;
  auto data = MakeData(dir);
  auto start = std::chrono::steady_clock::now();
  // worker 1 stops itself (SIGSTOP) mid-feed; the feed timeout (30 s) is far off.
  auto r = RunProgram(App(dir, {"--scenario", "freeze", "--fail_after", "3", "--data", data,
                                "--epochs", "50", "--node_timeout", "3"}),
                      dir / "out.txt");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20));
  EXPECT_NE(r.output.find("ERROR: Unavailable: worker:1 (executor 2) on 127.0.0.1 sent no "
                          "heartbeat for 3 s (node_timeout 3 s; "
                          "last state: "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("): the process is stopped or frozen, or its host is unreachable. If "
                          "pauses this long are expected, "
                          "raise node_timeout (--node_timeout)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("feed timeout"), std::string::npos) << r.output;
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, PauseShorterThanNodeTimeoutPassesWithoutError) {
  TempDir dir;
  auto data = MakeData(dir);
  auto p = testing::StartProcess(App(dir, {"--scenario", "lifecycle", "--data", data, "--epochs",
                                           "2", "--batch_sleep_ms", "60", "--node_timeout", "8"}),
                                 dir / "out.txt");
  std::string worker;
  for (int k = 0; k < 400 && worker.empty(); ++k) {
    worker = ReadAll(dir / "pid-2");
    if (worker.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_FALSE(worker.empty()) << ReadAll(dir / "out.txt");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(std::stoi(worker), SIGSTOP);  // a GC pause, swapping, a slow disk
  std::this_thread::sleep_for(seconds(4));
  ::kill(std::stoi(worker), SIGCONT);
  int code = testing::WaitProcess(p, seconds(90));
  std::string out = ReadAll(dir / "out.txt");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("JOB OK"), std::string::npos) << out;
  EXPECT_EQ(Count(dir, 0) + Count(dir, 1), 10000u) << out;
  // The silence was long enough to be worth a warning, never an error.
  EXPECT_EQ(out.find("sent no heartbeat"), std::string::npos) << out;
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, NodesOfAFrozenDriverExitWithinNodeTimeout) {
  TempDir dir;
  auto data = MakeData(dir);
  auto p = testing::StartProcess(
      App(dir, {"--scenario", "stall", "--fail_after", "1", "--data", data, "--node_timeout", "3"}),
      dir / "out.txt");
  ASSERT_FALSE(
      testing::WaitForText(dir / "out.txt", "all 3 nodes registered", seconds(30)).empty());
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 200 && ReadAll(dir / ("pid-" + std::to_string(i))).empty(); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ::kill(p.pid, SIGSTOP);  // the driver freezes: no heartbeats, sockets stay open
  std::this_thread::sleep_for(seconds(5));
  ExpectNoOrphans(dir, 3);  // each node gave up on the driver by itself
  ::kill(p.pid, SIGKILL);
  ::kill(p.pid, SIGCONT);
  testing::WaitProcess(p, seconds(20));
}

// A node log on a full disk (its file is /dev/full): the job still runs, and the driver
// says once that the log is cut short.
TEST(ClusterTest, NodeLogOnAFullDiskIsReportedOnce) {
  TempDir dir;
  auto data = MakeData(dir);
  ASSERT_EQ(::mkdir((dir / "logs").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/dev/full", (dir / "logs/worker-1.log").c_str()), 0);
  auto r = RunProgram(App(dir, {"--scenario", "lifecycle", "--data", data}), dir / "out.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string said = "node log " + dir.path() +
                           "/logs/worker-1.log is cut short after 0 lines: No space left on device";
  size_t at = r.output.find(said);
  EXPECT_NE(at, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(said, at + 1), std::string::npos) << "said more than once:\n" << r.output;
  EXPECT_EQ(r.output.find("logs/worker-0.log is cut short"), std::string::npos) << r.output;
}

TEST(ClusterTest, EarlyTerminateEndsCleanly) {
  TempDir dir;
  auto data = MakeData(dir);
  auto r = RunProgram(
      App(dir, {"--scenario", "terminate", "--fail_after", "2", "--data", data, "--epochs", "20"}),
      dir / "out.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Count(dir, 1), 200u);    // two batches, then terminate()
  EXPECT_EQ(Count(dir, 0), 50000u);  // the other worker got its whole share
  EXPECT_EQ(r.output.find("feed timeout"), std::string::npos);
}

TEST(ClusterTest, TwoNamedFeeds) {
  TempDir dir;
  auto data = MakeData(dir);
  auto validation = MakeData(dir, "validation", {7, 11, 13});
  auto r =
      RunProgram(App(dir, {"--scenario", "two_feeds", "--data", data, "--validation", validation}),
                 dir / "out.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Count(dir, 0) + Count(dir, 1), 5000u);
  EXPECT_EQ(std::stoi(ReadAll(dir / "validation-0")) + std::stoi(ReadAll(dir / "validation-1")),
            31);
}

TEST(ClusterTest, IntrudersAreRejectedAndTheJobSucceeds) {
  TempDir dir;
  auto data = MakeData(dir, "big", {50000, 50000, 50000, 50000});
  auto p = testing::StartProcess(
      App(dir, {"--scenario", "lifecycle", "--data", data, "--epochs", "3", "--batch", "10"}),
      dir / "out.txt");
  std::string text = testing::WaitForText(dir / "out.txt", "reservation server at ", seconds(30));
  ASSERT_FALSE(text.empty());
  auto line = text.substr(text.find("reservation server at ") + 22);
  auto addr = net::ParseHostPort(line.substr(0, line.find('\n')));
  ASSERT_TRUE(addr.ok());
  // 1: garbage with a huge declared length. 2: a connection that never speaks.
  // 3: a well-formed AUTH with a wrong MAC. None of them may crash or stall the server.
  auto g = net::Connect(*addr, net::After(seconds(5)));
  ASSERT_TRUE(g.ok());
  std::string garbage = "\xff\xff\xff\xff\x02 this is not a frame";
  (void)net::WriteAll(*g, garbage.data(), garbage.size(), net::After(seconds(5)));
  auto silent = net::Connect(*addr, net::After(seconds(5)));
  auto forged = net::Connect(*addr, net::After(seconds(5)));
  ASSERT_TRUE(forged.ok());
  auto hello = net::ReadFrame(*forged, net::After(seconds(5)));
  ASSERT_TRUE(hello.ok());
  (void)net::WriteFrame(*forged, net::FrameType::kAuth, std::string(65, '\x01'),
                        net::After(seconds(5)));
  char c;
  EXPECT_FALSE(net::ReadFull(*forged, &c, 1, net::After(seconds(5))).ok());  // dropped
  int code = testing::WaitProcess(p, seconds(90));
  std::string out = ReadAll(dir / "out.txt");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("failed authentication"), std::string::npos) << out;
  EXPECT_EQ(Count(dir, 0) + Count(dir, 1), 600000u);
}

TEST(ClusterTest, TensorBoardStartsOnTheChiefAndItsUrlReachesTheDriver) {
  // TensorBoard comes from the tests' Python packages (make test-deps).
  auto which = testing::RunCommand(
      "python3 -c 'import shutil; print(shutil.which(\"tensorboard\") or \"\")'");
  std::string tb = which.output.substr(0, which.output.find('\n'));
  ASSERT_FALSE(tb.empty()) << "tensorboard is not installed: " << which.output;
  std::string bin_dir = tb.substr(0, tb.rfind('/'));
  TempDir dir;
  auto data = MakeData(dir);
  auto r = RunProgram(App(dir, {"--scenario", "lifecycle", "--data", data, "--tensorboard", "1"}),
                      dir / "out.txt", seconds(90), {"PATH=" + bin_dir + ":/usr/bin:/bin"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tensorboard_url() = 'http://127.0.0.1:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TensorBoard at http://127.0.0.1:"), std::string::npos) << r.output;
}

TEST(ClusterTest, TensorBoardMissingPrintsTheCommandToRun) {
  TempDir dir;
  auto data = MakeData(dir);
  auto r = RunProgram(App(dir, {"--scenario", "lifecycle", "--data", data, "--tensorboard", "1"}),
                      dir / "out.txt", seconds(90), {"PATH=/nonexistent"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tensorboard --logdir " + dir.path() + "/logs"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("tensorboard_url() = ''"), std::string::npos) << r.output;
}

// A `tensorboard` on PATH that cannot run (its interpreter is missing) gets no URL: the node
// says why and the driver gets the command to run instead.
TEST(ClusterTest, TensorBoardThatCannotRunIsReportedAndGetsNoUrl) {
  TempDir dir;
  auto data = MakeData(dir);
  ASSERT_EQ(::mkdir((dir / "bin").c_str(), 0755), 0);
  testing::WriteAll(dir / "bin/tensorboard", "#!/nonexistent/python3\n");
  ASSERT_EQ(::chmod((dir / "bin/tensorboard").c_str(), 0755), 0);
  auto r = RunProgram(App(dir, {"--scenario", "lifecycle", "--data", data, "--tensorboard", "1"}),
                      dir / "out.txt", seconds(90), {"PATH=" + dir / "bin"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("TensorBoard not started: exec " + dir / "bin/tensorboard"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("tensorboard_url() = ''"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TensorBoard command at tensorboard --logdir " + dir.path() + "/logs"),
            std::string::npos)
      << r.output;
}

TEST(ClusterTest, InterruptedDriverLeavesNoNodeBehind) {
  TempDir dir;
  auto data = MakeData(dir);
  auto p = testing::StartProcess(
      App(dir, {"--scenario", "stall", "--fail_after", "1", "--data", data}), dir / "out.txt");
  ASSERT_FALSE(
      testing::WaitForText(dir / "out.txt", "all 3 nodes registered", seconds(30)).empty());
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 200 && ReadAll(dir / ("pid-" + std::to_string(i))).empty(); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(p.pid, SIGINT);
  int code = testing::WaitProcess(p, seconds(20));
  EXPECT_EQ(code, 128 + SIGINT) << ReadAll(dir / "out.txt");
  ExpectNoOrphans(dir, 3);
}

// Interrupted while the feed is blocked on a stalled node: the feed is cancelled and the
// driver still exits 128 + SIGINT with every node gone.
TEST(ClusterTest, DriverInterruptedMidFeedLeavesNoNodeBehind) {
  TempDir dir;
  auto data = MakeData(dir, "big", {60000, 60000, 60000, 60000});
  auto p = testing::StartProcess(
      App(dir, {"--scenario", "stall", "--fail_after", "2", "--data", data, "--feed_timeout", "60",
                "--stall_warning", "1", "--queue_bytes", "65536"}),
      dir / "out.txt");
  ASSERT_FALSE(
      testing::WaitForText(dir / "out.txt", "it is: stalled on purpose", seconds(30)).empty())
      << ReadAll(dir / "out.txt");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(p.pid, SIGINT);
  int code = testing::WaitProcess(p, seconds(20));
  std::string out = ReadAll(dir / "out.txt");
  EXPECT_EQ(code, 128 + SIGINT) << out;
  EXPECT_NE(out.find("interrupted; all nodes stopped"), std::string::npos) << out;
  ExpectNoOrphans(dir, 3);
}

TEST(ClusterTest, KilledDriverLeavesNoNodeBehind) {
  TempDir dir;
  auto data = MakeData(dir);
  auto p = testing::StartProcess(
      App(dir, {"--scenario", "stall", "--fail_after", "1", "--data", data}), dir / "out.txt");
  ASSERT_FALSE(
      testing::WaitForText(dir / "out.txt", "all 3 nodes registered", seconds(30)).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(p.pid, SIGKILL);
  testing::WaitProcess(p, seconds(20));
  ExpectNoOrphans(dir, 3);
}

// Multi-host: executor 2 (worker:1) runs on a second host, a network namespace, and writes
// its output there (<dir>/other-host.log), as a remote executor does; the driver and the other
// executors run on the first. Returns the driver's process.
// The driver's node_timeout is `driver_timeout_s`; executor 2 waits `node_timeout_ms` for the
// driver. Each test makes one side's timeout long, so that only the other side can be the one
// that notices the cut.
testing::Process StartOnTwoHosts(const TempDir& dir, const testing::TwoHosts& hosts,
                                 const std::string& data, int driver_timeout_s,
                                 int node_timeout_ms) {
  testing::WriteAll(dir / "wrap.sh",
                    "#!/bin/sh\nif [ \"$TOS_EXECUTOR_ID\" = 2 ]; then "
                    "TOS_NODE_TIMEOUT_MS=" +
                        std::to_string(node_timeout_ms) + " exec " + hosts.OnOtherHost() +
                        "\"$@\" >>" + dir / "other-host.log" + " 2>&1; fi\nexec \"$@\"\n");
  ::chmod((dir / "wrap.sh").c_str(), 0755);
  std::string command = "exec " + hosts.OnDriverHost();
  for (auto& a :
       App(dir, {"--scenario", "lifecycle", "--data", data, "--epochs", "50", "--batch_sleep_ms",
                 "5", "--node_timeout", std::to_string(driver_timeout_s), "--feed_timeout", "120",
                 "--queue_bytes", "65536", "--node_wrapper", dir / "wrap.sh"}))
    command += a + " ";
  return testing::StartProcess({"/bin/sh", "-c", command}, dir / "out.txt");
}

pid_t WaitForPid(const TempDir& dir, int executor) {
  for (int k = 0; k < 400; ++k) {
    std::string pid = ReadAll(dir / ("pid-" + std::to_string(executor)));
    if (!pid.empty()) return std::stoi(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return -1;
}

// Two hosts, the job started on them and fed (executor 2 on the other host), its pid known.
class ClusterHostsTest : public ::testing::Test {
 protected:
  void Start(int driver_timeout_s, int node_timeout_ms) {
    if (!testing::TwoHosts::Possible()) GTEST_SKIP() << "network namespaces need root";
    ASSERT_EQ(hosts.Up(), "");
    p = StartOnTwoHosts(dir, hosts, MakeData(dir, "big", {60000, 60000, 60000, 60000}),
                        driver_timeout_s, node_timeout_ms);
    ASSERT_FALSE(
        testing::WaitForText(dir / "out.txt", "all 3 nodes registered", seconds(30)).empty())
        << ReadAll(dir / "out.txt");
    node = WaitForPid(dir, 2);
    ASSERT_GT(node, 0) << ReadAll(dir / "out.txt");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the feed is under way
  }
  // Whatever a test left running: the driver's process group holds the driver and its nodes.
  void TearDown() override {
    if (p.pid > 0 && testing::ProcessAlive(p.pid)) {
      ::kill(-p.pid, SIGKILL);
      ::kill(p.pid, SIGKILL);
      ::kill(p.pid, SIGCONT);
      testing::WaitProcess(p, seconds(20));
    }
    if (node > 0 && testing::ProcessAlive(node)) ::kill(node, SIGKILL);
  }

  testing::TwoHosts hosts;
  TempDir dir;
  testing::Process p;
  pid_t node = -1;
};

// A host that drops off the network mid-feed: its link goes down (nothing it sends arrives,
// no FIN, no RST, no ACK) while its node keeps running (the node itself would wait 120 s for
// the driver). The driver fails the job within its node_timeout (3 s), naming the node and its
// host, and nothing is left running.
TEST_F(ClusterHostsTest, ANodeWhoseHostVanishesFailsTheJobNamingIt) {
  Start(/*driver_timeout_s=*/3, /*node_timeout_ms=*/120000);
  if (IsSkipped() || HasFatalFailure()) return;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(hosts.CutOtherHost(), "");
  int code = testing::WaitProcess(p, seconds(60));
  auto took = std::chrono::steady_clock::now() - start;
  std::string out = ReadAll(dir / "out.txt");
  EXPECT_EQ(code, 1) << out;
  EXPECT_LT(took, seconds(25)) << out;  // node_timeout is 3 s; the feed timeout (120 s) is far off
  EXPECT_NE(out.find(std::string("worker:1 (executor 2) on ") + testing::TwoHosts::kOtherAddress),
            std::string::npos)
      << out;
  ExpectNoOrphans(dir, 3);
}

// The driver's host drops off the network while the driver keeps running (it would wait 120 s
// for the node): the node on the other host gives up on the driver within its node_timeout
// (3 s) and exits by itself, saying why in its log.
TEST_F(ClusterHostsTest, ANodeWhoseDriverVanishesExitsWithinNodeTimeout) {
  Start(/*driver_timeout_s=*/120, /*node_timeout_ms=*/3000);
  if (IsSkipped() || HasFatalFailure()) return;
  EXPECT_EQ(hosts.CutDriverHost(), "");
  bool alive = true;
  for (int k = 0; k < 500 && alive; ++k) {  // up to 25 s; node_timeout is 3 s
    alive = testing::ProcessAlive(node);
    if (alive) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(alive) << "worker:1 outlived its vanished driver";
  std::string log = ReadAll(dir / "other-host.log");
  EXPECT_NE(
      log.find(std::string("no heartbeat from the driver at ") + testing::TwoHosts::kDriverAddress),
      std::string::npos)
      << log;
}

}  // namespace
}  // namespace tos
