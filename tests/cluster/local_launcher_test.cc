// The local launcher against real child processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "test_util.h"
#include "tos/launcher.h"

namespace tos {
namespace {

using testing::ReadAll;
using testing::TempDir;

const char kLastPid[] = "/proc/sys/kernel/ns_last_pid";

// Makes the next fork() of this pid namespace get `pid`, if no other process forks first.
bool SetNextPid(pid_t pid) {
  int fd = ::open(kLastPid, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string v = std::to_string(pid - 1);
  bool ok = ::write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  ::close(fd);
  return ok;
}

void KillAndReap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
}

// A node is reaped (its pid is free again) before the launcher finishes with it: it waits for
// the node's output pipe to drain, and here a background child keeps the pipe open. A process
// that gets the freed pid in that window must not receive the job's signals.
TEST(LocalLauncherTest, SignalAllSparesAProcessThatReusedAReapedNodesPid) {
  if (::access(kLastPid, W_OK) != 0) GTEST_SKIP() << "needs a writable " << kLastPid << " to reuse a pid";
  TempDir dir;
  const std::string pid_file = dir / "pid";
  auto launcher = MakeLocalLauncher();
  LaunchSpec spec;
  spec.num_executors = 1;
  spec.argv = {"/bin/sh", "-c", "echo $$ > " + pid_file + "; sleep 2 & exit 0"};
  spec.echo_output = false;
  std::atomic<bool> exit_reported{false};
  ASSERT_TRUE(launcher->Launch(spec, [&](const ExecutorExit&) { exit_reported = true; }).ok());

  std::string text;
  for (int k = 0; k < 500 && (text = ReadAll(pid_file)).find('\n') == std::string::npos; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_NE(text.find('\n'), std::string::npos) << "the node never wrote its pid";
  const pid_t node = std::stoi(text);
  // Reaped: kill() fails with ESRCH (a zombie would still accept it).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(::kill(node, 0) != 0 && errno == ESRCH)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the node was never reaped";
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }

  pid_t victim = -1;
  for (int attempt = 0; attempt < 20 && victim != node; ++attempt) {
    if (victim > 0) KillAndReap(victim);
    ASSERT_TRUE(SetNextPid(node));
    victim = ::fork();
    ASSERT_GE(victim, 0);
    if (victim == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  if (victim != node) {
    KillAndReap(victim);
    GTEST_SKIP() << "other processes took pid " << node << " first";
  }
  bool in_window = !exit_reported;
  launcher->SignalAll(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int status = 0;
  pid_t r = ::waitpid(victim, &status, WNOHANG);
  KillAndReap(victim);
  if (!in_window) GTEST_SKIP() << "the launcher finished with the node before its pid was reused";
  EXPECT_EQ(r, 0) << "SignalAll signalled pid " << victim << ", which a new process got after the node was reaped"
                  << (r == victim && WIFSIGNALED(status) ? " (killed by signal " + std::to_string(WTERMSIG(status)) + ")" : "");
  EXPECT_TRUE(launcher->WaitAll(std::chrono::seconds(10)));
  EXPECT_TRUE(exit_reported);
}

}  // namespace
}  // namespace tos
