// Helpers shared by the test binaries: scratch directories, whole-file I/O, running tools.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tos::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tos_test_XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    ::nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line, capturing stdout+stderr.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A partitioned text dataset: partitions[i] lines go to part-0000i; _SUCCESS last.
inline void WriteTextDataset(const std::string& dir,
                             const std::vector<std::vector<std::string>>& partitions) {
  ::mkdir(dir.c_str(), 0755);
  for (size_t p = 0; p < partitions.size(); ++p) {
    char name[32];
    std::snprintf(name, sizeof(name), "/part-%05zu", p);
    std::ofstream out(dir + name);
    for (auto& line : partitions[p]) out << line << "\n";
  }
  WriteAll(dir + "/_SUCCESS", "");
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
  r.output = ReadAll(output_path);
  return r;
}

// Waits until `path` contains `needle`; returns the file's text then, or "" at the timeout.
inline std::string WaitForText(const std::string& path, const std::string& needle,
                               std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = ReadAll(path);
    if (text.find(needle) != std::string::npos) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

// Alive and not a zombie.
inline bool ProcessAlive(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (stat.empty() || close == std::string::npos || close + 2 >= stat.size()) return false;
  char state = stat[close + 2];
  return state != 'Z' && state != 'X';
}

}  // namespace tos::testing

#define TOS_ASSERT_OK(expr)                \
  do {                                     \
    ::tos::Status _s = (expr);             \
    ASSERT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)

#define TOS_EXPECT_OK(expr)                \
  do {                                     \
    ::tos::Status _s = (expr);             \
    EXPECT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)

// Assigns the value of a Result or fails the test.
#define TOS_ASSERT_OK_AND_ASSIGN(lhs, rexpr)                 \
  auto TOS_CONCAT_(_tos_r_, __LINE__) = (rexpr);             \
  ASSERT_TRUE(TOS_CONCAT_(_tos_r_, __LINE__).ok())           \
      << TOS_CONCAT_(_tos_r_, __LINE__).status().ToString(); \
  lhs = std::move(TOS_CONCAT_(_tos_r_, __LINE__)).value()
