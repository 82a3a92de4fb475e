// Helpers shared by the test binaries: scratch directories, whole-file I/O, running tools.
#pragma once

#include <ftw.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

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

}  // namespace tos::testing

#define TOS_ASSERT_OK(expr)                              \
  do {                                                   \
    ::tos::Status _s = (expr);                           \
    ASSERT_TRUE(_s.ok()) << _s.ToString();               \
  } while (0)

#define TOS_EXPECT_OK(expr)                              \
  do {                                                   \
    ::tos::Status _s = (expr);                           \
    EXPECT_TRUE(_s.ok()) << _s.ToString();               \
  } while (0)

// Assigns the value of a Result or fails the test.
#define TOS_ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                          \
  auto TOS_CONCAT_(_tos_r_, __LINE__) = (rexpr);                                      \
  ASSERT_TRUE(TOS_CONCAT_(_tos_r_, __LINE__).ok())                                    \
      << TOS_CONCAT_(_tos_r_, __LINE__).status().ToString();                          \
  lhs = std::move(TOS_CONCAT_(_tos_r_, __LINE__)).value()
