// Helpers for tests that run real processes: temporary directories, subprocesses with a
// hard timeout (a hang fails the test instead of the CI run), small text datasets.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tos::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tos_test_XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    if (!path_.empty() && std::getenv("TOS_KEEP_TEST_DIRS") == nullptr) {
      std::string cmd = "rm -rf '" + path_ + "'";
      int unused = std::system(cmd.c_str());
      (void)unused;
    }
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

inline void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A partitioned text dataset: partitions[i] lines go to part-0000i; _SUCCESS last.
inline void WriteTextDataset(const std::string& dir, const std::vector<std::vector<std::string>>& partitions) {
  ::mkdir(dir.c_str(), 0755);
  for (size_t p = 0; p < partitions.size(); ++p) {
    char name[32];
    std::snprintf(name, sizeof(name), "/part-%05zu", p);
    std::ofstream out(dir + name);
    for (auto& line : partitions[p]) out << line << "\n";
  }
  WriteFile(dir + "/_SUCCESS", "");
}

struct Process {
  pid_t pid = -1;
  std::string output_path;
};

// Starts argv with stdout+stderr to output_path, in its own process group.
inline Process StartProcess(const std::vector<std::string>& argv, const std::string& output_path,
                            const std::vector<std::string>& extra_env = {}) {
  Process p;
  p.output_path = output_path;
  p.pid = ::fork();
  if (p.pid == 0) {
    ::setpgid(0, 0);
    int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (auto& kv : extra_env) ::putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return p;
}

// Waits up to timeout; on timeout kills the whole process group and returns -1000.
// Otherwise the exit code, or -signal.
inline int WaitProcess(const Process& p, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(p.pid, &status, WNOHANG);
    if (r == p.pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-p.pid, SIGKILL);
      ::waitpid(p.pid, &status, 0);
      return -1000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

struct RunResult {
  int code = 0;
  std::string output;
};

inline RunResult RunProgram(const std::vector<std::string>& argv, const std::string& output_path,
                     std::chrono::seconds timeout = std::chrono::seconds(90),
                     const std::vector<std::string>& extra_env = {}) {
  Process p = StartProcess(argv, output_path, extra_env);
  RunResult r;
  r.code = WaitProcess(p, timeout);
  r.output = ReadFile(output_path);
  return r;
}

// Waits until `path` contains `needle`; returns the file's text then, or "" at the timeout.
inline std::string WaitForText(const std::string& path, const std::string& needle, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = ReadFile(path);
    if (text.find(needle) != std::string::npos) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

// Alive and not a zombie.
inline bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (stat.empty() || close == std::string::npos || close + 2 >= stat.size()) return false;
  char state = stat[close + 2];
  return state != 'Z' && state != 'X';
}

}  // namespace tos::testing
