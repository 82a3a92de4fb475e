#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "tos/launcher.h"
#include "tos/log.h"
#include "util/console.h"

extern char** environ;

namespace tos {

std::string ExecutorExit::Describe() const {
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) +
           (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "exit status " + std::to_string(exit_code);
}

namespace {

constexpr size_t kKeepLines = 30;

// Stop() reaps the killed children for at most this long.
constexpr auto kStopReap = std::chrono::seconds(5);
// Once stopping, the output relay forwards what is already in the pipes for at most this long
// (a grandchild may hold a pipe open forever).
constexpr auto kRelayDrainAtStop = std::chrono::seconds(1);
// A reaped child's last output lines may still be in its pipe: the reaper lets the relay
// drain it for at most this long, so the failure report carries them.
constexpr auto kOutputDrainAtExit = std::chrono::milliseconds(500);
// How often the reaper polls for exited children (waitpid with WNOHANG).
constexpr auto kReapPoll = std::chrono::milliseconds(20);

class LocalLauncher : public Launcher {
 public:
  ~LocalLauncher() override { Stop(); }

  void Stop() override {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    SignalAll(SIGKILL);
    WaitAll(kStopReap);
    stop_ = true;
    if (reaper_.joinable()) reaper_.join();
    if (relay_.joinable()) relay_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : execs_) {
      if (e.out_fd >= 0) ::close(e.out_fd);
      if (e.log_fd >= 0) ::close(e.log_fd);
      e.out_fd = e.log_fd = -1;
    }
  }

  Status Launch(const LaunchSpec& spec, std::function<void(const ExecutorExit&)> on_exit) override {
    if (spec.argv.empty()) return InvalidArgument("launch: empty argv");
    spec_ = spec;
    on_exit_ = std::move(on_exit);
    if (!spec.log_dir.empty()) {
      std::string cmd_dir;
      for (size_t i = 0; i <= spec.log_dir.size(); ++i) {
        if (i == spec.log_dir.size() || spec.log_dir[i] == '/') {
          cmd_dir = spec.log_dir.substr(0, i);
          if (!cmd_dir.empty()) ::mkdir(cmd_dir.c_str(), 0755);
        }
      }
    }
    execs_.resize(spec.num_executors);
    pid_t parent = ::getpid();
    std::vector<std::string> node_argv = spec.argv;
    if (const char* w = std::getenv("TOS_NODE_WRAPPER"); w && *w)
      node_argv.insert(node_argv.begin(), w);
    for (int i = 0; i < spec.num_executors; ++i) {
      auto& ex = execs_[i];
      ex.name = spec.executor_name ? spec.executor_name(i) : "executor-" + std::to_string(i);
      ex.prefix = "[" + ex.name + "] ";
      auto dash = ex.prefix.rfind('-');
      if (dash != std::string::npos) ex.prefix[dash] = ':';
      if (!spec.log_dir.empty()) {
        ex.log_path = spec.log_dir + "/" + ex.name + ".log";
        ex.log_fd = ::open(ex.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (ex.log_fd < 0) return ErrnoError("create node log " + ex.log_path, errno);
      }
      // Everything the child needs is prepared before fork(): after it only async-signal-safe
      // calls are allowed in a multi-threaded parent.
      std::map<std::string, std::string> env;
      for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      for (auto& [k, v] : spec.env) env[k] = v;
      if (spec.executor_env)
        for (auto& [k, v] : spec.executor_env(i)) env[k] = v;
      std::vector<std::string> env_strings;
      env_strings.reserve(env.size());
      for (auto& [k, v] : env) env_strings.push_back((k + '=').append(v));
      std::vector<char*> envp, argv;
      for (auto& s : env_strings) envp.push_back(const_cast<char*>(s.c_str()));
      envp.push_back(nullptr);
      for (auto& s : node_argv) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
      pid_t pid = ::fork();
      if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return ErrnoError("fork", errno);
      }
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(125);
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        ::execve(argv[0], argv.data(), envp.data());
        const char msg[] = "executor: exec failed\n";
        ssize_t unused = ::write(2, msg, sizeof(msg) - 1);
        (void)unused;
        ::_exit(127);
      }
      ::close(fds[1]);
      ex.pid = pid;
      ex.out_fd = fds[0];
      ex.running = true;
    }
    relay_ = std::thread([this] { RelayLoop(); });
    reaper_ = std::thread([this] { ReapLoop(); });
    return Status::OK();
  }

  // A reaped child's pid is free for the system to reuse: never signal it.
  void Signal(int id, int sig) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (id >= 0 && id < static_cast<int>(execs_.size()) && execs_[id].running && !execs_[id].reaped)
      ::kill(execs_[id].pid, sig);
  }

  void SignalAll(int sig) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& e : execs_)
      if (e.running && !e.reaped) ::kill(e.pid, sig);
  }

  bool WaitAll(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] {
      for (auto& e : execs_)
        if (e.running) return false;
      return true;
    });
  }

  std::vector<std::string> LastLines(int id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (id < 0 || id >= static_cast<int>(execs_.size())) return {};
    return {execs_[id].last.begin(), execs_[id].last.end()};
  }

  std::string LogPath(int id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (id < 0 || id >= static_cast<int>(execs_.size())) return "";
    return execs_[id].log_path;
  }

 private:
  struct Exec {
    std::string name, prefix, log_path;
    pid_t pid = -1;
    int out_fd = -1, log_fd = -1;
    uint64_t lines_logged = 0;
    bool running = false;  // until its exit has been reported (on_exit returned)
    bool reaped = false;   // waitpid returned it: pid may belong to another process now
    bool output_closed = false;
    std::string partial;
    std::deque<std::string> last;
  };

  void EmitLine(Exec& e, const std::string& line) {
    if (e.log_fd >= 0) {
      std::string l = line + "\n";
      size_t done = 0;
      while (done < l.size()) {
        ssize_t w = ::write(e.log_fd, l.data() + done, l.size() - done);
        if (w > 0) {
          done += static_cast<size_t>(w);
        } else if (w < 0 && errno == EINTR) {
          continue;
        } else {
          // Said once: the rest of this node's output still reaches the console and the
          // failure report's last lines, but not its log file.
          int err = w < 0 ? errno : ENOSPC;
          LogWarning("node log " + e.log_path + " is cut short after " +
                     std::to_string(e.lines_logged) + " lines: " + StrError(err) +
                     "; free space there or set another log directory");
          ::close(e.log_fd);
          e.log_fd = -1;
          break;
        }
      }
      if (done == l.size()) ++e.lines_logged;
    }
    if (spec_.echo_output) ConsoleLine(e.prefix + line);
    std::lock_guard<std::mutex> lock(mu_);
    e.last.push_back(line);
    if (e.last.size() > kKeepLines) e.last.pop_front();
  }

  void RelayLoop() {
    char buf[65536];
    std::chrono::steady_clock::time_point stop_seen{};
    for (;;) {
      std::vector<pollfd> fds;
      std::vector<int> ids;
      for (size_t i = 0; i < execs_.size(); ++i) {
        if (execs_[i].out_fd >= 0) {
          fds.push_back({execs_[i].out_fd, POLLIN, 0});
          ids.push_back(static_cast<int>(i));
        }
      }
      if (fds.empty()) return;
      int rc = ::poll(fds.data(), fds.size(), 200);
      if (rc < 0 && errno != EINTR) return;
      // Once stopped (every child is reaped), a pipe still open belongs to a child's own
      // child: relay what is already there, but do not wait on it (1 s at most).
      if (stop_) {
        auto now = std::chrono::steady_clock::now();
        if (stop_seen == std::chrono::steady_clock::time_point{}) stop_seen = now;
        if (rc <= 0 || now - stop_seen > kRelayDrainAtStop) return;
      }
      for (size_t k = 0; k < fds.size(); ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Exec& e = execs_[ids[k]];
        ssize_t r = ::read(e.out_fd, buf, sizeof(buf));
        if (r > 0) {
          e.partial.append(buf, static_cast<size_t>(r));
          size_t start = 0, nl;
          while ((nl = e.partial.find('\n', start)) != std::string::npos) {
            EmitLine(e, e.partial.substr(start, nl - start));
            start = nl + 1;
          }
          e.partial.erase(0, start);
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          if (!e.partial.empty()) EmitLine(e, e.partial);
          e.partial.clear();
          ::close(e.out_fd);
          if (e.log_fd >= 0) ::close(e.log_fd);
          std::lock_guard<std::mutex> lock(mu_);
          e.out_fd = -1;
          e.log_fd = -1;
          e.output_closed = true;
          cv_.notify_all();
        }
      }
    }
  }

  void ReapLoop() {
    while (!stop_) {
      bool any = false;
      for (size_t i = 0; i < execs_.size(); ++i) {
        int status = 0;
        {
          // Once waitpid returns a child its pid is free for reuse. Reaping under the lock that
          // Signal/SignalAll hold, and marking it at once (not after the drain below), means a
          // signal only ever goes to a pid that is still our child (a zombie at worst).
          std::lock_guard<std::mutex> lock(mu_);
          if (!execs_[i].running || execs_[i].reaped) continue;
          any = true;
          pid_t pid = execs_[i].pid;
          if (::waitpid(pid, &status, WNOHANG) != pid) continue;
          execs_[i].reaped = true;
        }
        ExecutorExit ex;
        ex.executor_id = static_cast<int>(i);
        if (WIFSIGNALED(status)) ex.signal = WTERMSIG(status);
        if (WIFEXITED(status)) ex.exit_code = WEXITSTATUS(status);
        {
          // Let the relay drain the pipe so failure reports carry the last lines.
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait_for(lock, kOutputDrainAtExit, [&] { return execs_[i].output_closed; });
        }
        if (on_exit_) on_exit_(ex);
        std::lock_guard<std::mutex> lock(mu_);
        execs_[i].running = false;
        cv_.notify_all();
      }
      if (!any && stop_) return;
      std::this_thread::sleep_for(kReapPoll);
    }
  }

  LaunchSpec spec_;
  std::function<void(const ExecutorExit&)> on_exit_;
  mutable std::mutex mu_;
  std::mutex stop_mu_;  // serializes Stop()
  std::condition_variable cv_;
  std::vector<Exec> execs_;
  std::thread relay_, reaper_;
  std::atomic<bool> stop_{false};
};

}  // namespace

std::unique_ptr<Launcher> MakeLocalLauncher() { return std::make_unique<LocalLauncher>(); }

}  // namespace tos
