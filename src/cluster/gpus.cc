#include "cluster/gpus.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

extern char** environ;

namespace tos {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// The first executable `name` on $PATH, or "".
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs program (argv[0] a path) with its stdout captured and stderr discarded; its output when
// it exits 0 within `timeout`, else an error saying which. A program that does not end in time
// is killed.
Result<std::string> RunCaptured(const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout) {
  // Everything the child needs is made before fork(): the driver may have threads.
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    if (devnull >= 0) ::close(devnull);
    return ErrnoError("pipe", errno);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    if (devnull >= 0) ::close(devnull);
    return ErrnoError("fork", err);
  }
  if (pid == 0) {
    ::dup2(fds[1], 1);
    if (devnull >= 0) ::dup2(devnull, 2);
    ::execve(argv[0], argv.data(), environ);
    ::_exit(127);
  }
  ::close(fds[1]);
  if (devnull >= 0) ::close(devnull);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  std::string out;
  bool eof = false;
  while (!eof && left_ms() > 0) {
    pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, left_ms());
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    char buf[4096];
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      eof = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  pid_t reaped = 0;
  while ((reaped = ::waitpid(pid, &status, WNOHANG)) == 0 && left_ms() > 0) ::usleep(10000);
  if (reaped == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return Timeout(args[0] + " did not answer within " + std::to_string(timeout.count()) + " ms");
  }
  // ECHILD: SIGCHLD is ignored in this process, so the exit status is gone; judge by the output.
  if (reaped == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    const std::string how = WIFEXITED(status)
                                ? "exit status " + std::to_string(WEXITSTATUS(status))
                                : "killed by signal " + std::to_string(WTERMSIG(status));
    return Unavailable(args[0] + " failed (" + how + ")");
  }
  return out;
}

}  // namespace

std::vector<std::string> ParseCudaVisibleDevices(const std::string& value) {
  std::vector<std::string> ids;
  std::stringstream items(value);
  std::string item;
  while (std::getline(items, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    if (item[0] == '-') break;
    ids.push_back(item);
  }
  return ids;
}

std::vector<std::string> GpusFromNvidiaSmi(const std::string& output) {
  std::vector<std::string> ids;
  std::stringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("GPU ", 0) != 0) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string index = Trim(line.substr(4, colon - 4));
    if (!index.empty() && index.find_first_not_of("0123456789") == std::string::npos)
      ids.push_back(index);
  }
  return ids;
}

VisibleGpus FindVisibleGpus(std::chrono::milliseconds timeout) {
  VisibleGpus g;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) {
    g.ids = ParseCudaVisibleDevices(v);
    g.source = *v ? std::string("CUDA_VISIBLE_DEVICES=") + v : "CUDA_VISIBLE_DEVICES is empty";
    return g;
  }
  const std::string smi = FindOnPath("nvidia-smi");
  if (smi.empty()) {
    g.source = "CUDA_VISIBLE_DEVICES is not set and nvidia-smi is not on PATH";
    return g;
  }
  Result<std::string> listed = RunCaptured({smi, "-L"}, timeout);
  if (!listed.ok()) {
    g.source = "CUDA_VISIBLE_DEVICES is not set and " + listed.status().message();
    return g;
  }
  g.ids = GpusFromNvidiaSmi(*listed);
  g.source = "CUDA_VISIBLE_DEVICES is not set; nvidia-smi -L lists " + std::to_string(g.ids.size());
  return g;
}

Result<std::vector<std::string>> DealGpus(const RoleLayout& layout, int per_node,
                                          const VisibleGpus& gpus) {
  if (per_node < 0)
    return InvalidArgument("gpus_per_node must be 0 or more, not " + std::to_string(per_node));
  std::vector<std::string> out(static_cast<size_t>(layout.num_executors));
  int trainers = 0;
  for (int id = 0; id < layout.num_executors; ++id) {
    const std::string job = RoleFor(layout, id).job_name;
    trainers += job == "chief" || job == "worker";
  }
  const size_t needed = static_cast<size_t>(per_node) * static_cast<size_t>(trainers);
  if (needed > gpus.ids.size()) {
    return InvalidArgument("gpus_per_node " + std::to_string(per_node) + " asks for " +
                           std::to_string(needed) + " GPUs (" + std::to_string(per_node) +
                           " for each of " + std::to_string(trainers) + " trainers), but " +
                           std::to_string(gpus.ids.size()) + " are visible (" + gpus.source +
                           "): ask for fewer, or 0 to leave the nodes' CUDA_VISIBLE_DEVICES as "
                           "it is");
  }
  size_t next = 0;
  for (int id = 0; id < layout.num_executors; ++id) {
    const std::string job = RoleFor(layout, id).job_name;
    if (job != "chief" && job != "worker") continue;
    std::string& list = out[static_cast<size_t>(id)];
    for (int k = 0; k < per_node; ++k) list += (k ? "," : "") + gpus.ids[next++];
  }
  return out;
}

}  // namespace tos
