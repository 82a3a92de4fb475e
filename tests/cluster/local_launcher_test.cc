// The local launcher against real child processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
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

enum class Outcome { kSpared, kSignalled, kNotReused };

// One try: launches a node whose background child keeps its output pipe open, waits until the
// node is reaped, gets its pid for a new process, and calls SignalAll(SIGTERM) while the
// launcher is still waiting for the pipe to drain (before it reports the exit).
Outcome TryPidReuse(const TempDir& dir, int round, std::string* why) {
  const std::string pid_file = dir / ("pid-" + std::to_string(round));
  auto launcher = MakeLocalLauncher();
  LaunchSpec spec;
  spec.num_executors = 1;
  spec.argv = {"/bin/sh", "-c", "echo $$ > " + pid_file + "; sleep 2 & exit 0"};
  spec.echo_output = false;
  std::atomic<bool> exit_reported{false};
  if (!launcher->Launch(spec, [&](const ExecutorExit&) { exit_reported = true; }).ok()) {
    *why = "launch failed";
    return Outcome::kNotReused;
  }
  std::string text;
  for (int k = 0; k < 500 && (text = ReadAll(pid_file)).find('\n') == std::string::npos; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (text.find('\n') == std::string::npos) {
    *why = "the node never wrote its pid";
    return Outcome::kNotReused;
  }
  const pid_t node = std::stoi(text);
  // Reaped: kill() fails with ESRCH (a zombie would still accept it).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(::kill(node, 0) != 0 && errno == ESRCH)) {
    if (std::chrono::steady_clock::now() > deadline) {
      *why = "the node was never reaped";
      return Outcome::kNotReused;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  pid_t victim = -1;
  for (int attempt = 0; attempt < 20 && victim != node; ++attempt) {
    if (victim > 0) KillAndReap(victim);
    if (!SetNextPid(node)) break;
    victim = ::fork();
    if (victim < 0) break;
    if (victim == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  if (victim != node) {
    if (victim > 0) KillAndReap(victim);
    *why = "other processes took pid " + std::to_string(node) + " first";
    return Outcome::kNotReused;
  }
  bool in_window = !exit_reported;
  launcher->SignalAll(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int status = 0;
  pid_t r = ::waitpid(victim, &status, WNOHANG);
  KillAndReap(victim);
  if (r == victim) {
    *why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status)) : "exited";
    return Outcome::kSignalled;
  }
  if (!in_window) {
    *why = "the launcher finished with the node before its pid was reused";
    return Outcome::kNotReused;
  }
  EXPECT_TRUE(launcher->WaitAll(std::chrono::seconds(10)));
  EXPECT_TRUE(exit_reported);
  return Outcome::kSpared;
}

// A node is reaped (its pid is free again) before the launcher finishes with it: it waits for
// the node's output pipe to drain. A process that gets the freed pid in that window must not
// receive the job's signals.
TEST(LocalLauncherTest, SignalAllSparesAProcessThatReusedAReapedNodesPid) {
  if (::access(kLastPid, W_OK) != 0)
    GTEST_SKIP() << "needs a writable " << kLastPid << " to reuse a pid";
  TempDir dir;
  std::string why;
  for (int round = 0; round < 10; ++round) {
    Outcome o = TryPidReuse(dir, round, &why);
    if (o == Outcome::kSpared) return;
    ASSERT_NE(o, Outcome::kSignalled)
        << "SignalAll signalled a process that got a reaped node's pid (" << why << ")";
  }
  GTEST_SKIP() << "could not reuse a node's pid in 10 tries; last: " << why;
}

// $TOS_NODE_WRAPPER starts every node through it: the wrapper gets the program and its
// arguments, and the node's environment (its executor id), and execs the rest.
TEST(LocalLauncherTest, NodesStartThroughTosNodeWrapper) {
  TempDir dir;
  const std::string wrapper = dir / "wrap.sh";
  testing::WriteAll(wrapper, "#!/bin/sh\necho \"wrapped $TOS_EXECUTOR_ID: $*\" >> " +
                                 (dir / "log") + "\nexec \"$@\"\n");
  ASSERT_EQ(::chmod(wrapper.c_str(), 0755), 0);
  ASSERT_EQ(::setenv("TOS_NODE_WRAPPER", wrapper.c_str(), 1), 0);
  auto launcher = MakeLocalLauncher();
  LaunchSpec spec;
  spec.num_executors = 2;
  spec.argv = {"/bin/sh", "-c", "echo ran $TOS_EXECUTOR_ID >> " + (dir / "log")};
  spec.executor_env = [](int i) {
    return std::map<std::string, std::string>{{"TOS_EXECUTOR_ID", std::to_string(i)}};
  };
  spec.echo_output = false;
  Status launched = launcher->Launch(spec, [](const ExecutorExit&) {});
  ::unsetenv("TOS_NODE_WRAPPER");
  ASSERT_TRUE(launched.ok()) << launched.ToString();
  ASSERT_TRUE(launcher->WaitAll(std::chrono::seconds(20)));
  std::string log = ReadAll(dir / "log");
  for (const char* line :
       {"wrapped 0: /bin/sh -c echo ran", "wrapped 1: /bin/sh -c echo ran", "ran 0\n", "ran 1\n"})
    EXPECT_NE(log.find(line), std::string::npos) << line << " not in:\n" << log;
}

}  // namespace
}  // namespace tos
