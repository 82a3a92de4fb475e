// Helpers for the tos_train tests: temporary directories and child processes that re-run
// this test binary (fork + exec, so no gRPC/Gloo/OpenMP state crosses a fork).
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tos::train::testing {

inline std::string MakeTempDir(const std::string& tag) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / ("tos_train_" + tag + "_XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

// A child running this binary with TOS_CHILD_* variables: its main() runs the role's code
// instead of the tests (child_main.cc).
class Child {
 public:
  Child(const std::string& role, const std::map<std::string, std::string>& args) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("TOS_CHILD_", 0) != 0) env_strings.emplace_back(*e);
    }
    env_strings.push_back("TOS_CHILD_ROLE=" + role);
    for (const auto& [k, v] : args) env_strings.push_back("TOS_CHILD_" + k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    char* argv[] = {exe.data(), nullptr};
    if (posix_spawn(&pid_, exe.c_str(), nullptr, nullptr, argv, envp.data()) != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  void Kill() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
  }
  // Exit code, or -1 on timeout (the child is then killed), or 128+signal.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -2;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        reaped_ = true;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

inline std::string ChildArg(const std::string& key) {
  const char* v = std::getenv(("TOS_CHILD_" + key).c_str());
  return v ? v : "";
}

}  // namespace tos::train::testing

namespace tos::train::testing {

// Child roles: a test file registers a function; the parent starts it with Child(role, args).
using RoleFn = int (*)();
inline std::map<std::string, RoleFn>& Roles() {
  static std::map<std::string, RoleFn> roles;
  return roles;
}
struct RegisterRole {
  RegisterRole(const char* name, RoleFn fn) { Roles()[name] = fn; }
};

}  // namespace tos::train::testing
