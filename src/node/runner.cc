// The node runner: what a process started by a launcher does before, around and after the
// user's map_fun (docs/protocol.md describes the exchange with the driver).
#include "node/runner.h"

#include <fcntl.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "feed/feed_server.h"
#include "io/hadoop_conf.h"
#include "net/auth.h"
#include "node/node_env.h"
#include "node/node_state.h"
#include "reservation/client.h"
#include "tos/log.h"
#include "tos/tos.h"

namespace tos {
namespace {

// How often the node checks that the Spark executor that started it is still there.
constexpr auto kExecutorWatchInterval = std::chrono::milliseconds(500);
// How often the heartbeat thread looks at its stop flag between heartbeats.
constexpr auto kHeartbeatStopPoll = std::chrono::milliseconds(20);

std::vector<std::string> g_args;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace

[[noreturn]] void ExitNow(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(code);
}

namespace {

// The address this node gives the others: TOS_HOST, else this host's first non-loopback one.
std::string AdvertisedHost(const NodeEnv& env) {
  return env.host.empty() ? net::AdvertisedHost() : env.host;
}

// TensorBoard on the chief (or worker 0), when asked for and installed. The process dies with
// this node (PR_SET_PDEATHSIG).
void MaybeStartTensorBoard(Context& ctx, const NodeEnv& env) {
  if (!env.tensorboard || !ctx.is_chief()) return;
  std::string logdir = env.tensorboard_logdir.empty() ? ctx.log_dir() : env.tensorboard_logdir;
  std::string exe;
  std::string path = Env("PATH");
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/tensorboard";
    if (::access(candidate.c_str(), X_OK) == 0) {
      exe = candidate;
      break;
    }
    start = end + 1;
  }
  if (exe.empty()) {
    LogWarning(
        "TensorBoard was asked for but `tensorboard` is not on PATH; install it (pip install "
        "tensorboard) or run: tensorboard --logdir " +
        logdir);
    ctx.ReportUrl("TensorBoard command", "tensorboard --logdir " + logdir);
    return;
  }
  // TensorBoard binds its own port: pick a free one (a race here only affects TensorBoard).
  int port = env.tensorboard_port;
  if (port == 0) {
    net::ListenOptions lo;
    auto probe = net::Listen(lo);
    if (probe.ok()) port = probe->LocalPort();
  }
  std::string host = AdvertisedHost(env);
  std::string port_s = std::to_string(port);
  // Everything the child needs is built before fork: between fork and exec it calls only
  // async-signal-safe functions (another thread may hold the allocator's lock). A close-on-exec
  // pipe tells the parent whether exec worked: end of file means it did, four bytes are errno.
  const char* argv[] = {exe.c_str(),  "--logdir", logdir.c_str(), "--host",
                        host.c_str(), "--port",   port_s.c_str(), nullptr};
  int exec_status[2];
  if (::pipe2(exec_status, O_CLOEXEC) != 0) {
    LogWarning(std::string("TensorBoard not started: pipe: ") + StrError(errno) +
               "; run: tensorboard --logdir " + logdir);
    ctx.ReportUrl("TensorBoard command", "tensorboard --logdir " + logdir);
    return;
  }
  const pid_t node = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(exec_status[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    // The node may have died before the line above: then no signal is coming.
    if (::getppid() != node) ::_exit(127);
    ::execv(exe.c_str(), const_cast<char* const*>(argv));
    int err = errno;
    (void)!::write(exec_status[1], &err, sizeof err);  // the parent reports it
    ::_exit(127);
  }
  ::close(exec_status[1]);
  int err = 0;
  if (pid < 0) {
    err = errno;
  } else {
    ssize_t got;
    do {
      got = ::read(exec_status[0], &err, sizeof err);
    } while (got < 0 && errno == EINTR);
    if (got != static_cast<ssize_t>(sizeof err)) err = 0;  // end of file: exec worked
    if (err != 0) ::waitpid(pid, nullptr, 0);
  }
  ::close(exec_status[0]);
  if (err != 0) {
    LogWarning("TensorBoard not started: " + std::string(pid < 0 ? "fork" : "exec " + exe) + ": " +
               StrError(err) + "; run: tensorboard --logdir " + logdir);
    ctx.ReportUrl("TensorBoard command", "tensorboard --logdir " + logdir);
    return;
  }
  ctx.ReportUrl("TensorBoard", "http://" + host + ":" + port_s);
}

// The node's Context state before it joins: paths, threads, and the reserved port (bound
// with SO_REUSEPORT, not listening, held until the training code's server binds the same port).
Result<std::shared_ptr<Context::State>> NewState(const NodeEnv& env, const std::string& reservation,
                                                 const std::string& host) {
  auto state = std::make_shared<Context::State>();
  state->executor_id = env.executor_id;
  state->secret = env.secret;
  state->reservation_address = reservation;
  state->input_mode = env.input_mode;
  state->default_fs = env.default_fs;
  char cwd[PATH_MAX] = {0};
  state->working_dir = !env.working_dir.empty()     ? env.working_dir
                       : ::getcwd(cwd, sizeof(cwd)) ? cwd
                                                    : ".";
  state->log_dir = !env.log_dir.empty() ? env.log_dir : state->working_dir + "/tos_logs";
  state->user = HadoopUserName();  // as HDFS sees it: HADOOP_USER_NAME first
  state->threads = env.threads;
  auto port_range = net::ParsePortRange(env.node_port);
  if (!port_range.ok()) return port_range.status().WithContext("TOS_NODE_PORT");
  net::ListenOptions lo;
  lo.reuse_port = true;
  lo.listen = false;
  auto reserved = net::ListenInRange(lo, port_range->first, port_range->second);
  if (!reserved.ok()) return reserved.status().WithContext("cannot reserve a port");
  const int port = reserved->LocalPort();
  state->reserved = std::make_unique<ReservedPort>(host, port, reserved->Release());
  return state;
}

// The driver's control messages: STOP wakes WaitForStop; a job error or a lost driver ends
// the node (exit 3).
void StartControlReader(reservation::ControlChannel& control,
                        const std::shared_ptr<Context::State>& state,
                        std::chrono::milliseconds node_timeout) {
  control.StartReader(
      {
          [state] {
            {
              std::lock_guard<std::mutex> lock(state->mu);
              state->stop = true;
            }
            state->stop_cv.notify_all();
          },
          [](const std::string& message) {
            LogError("job aborted by the driver: " + message.substr(0, message.find('\n')));
            ExitNow(3);
          },
          [](const Status& why) {
            LogError("lost the driver's control channel (" + why.message() + "); exiting");
            ExitNow(3);
          },
      },
      node_timeout);
}

// Started by a Spark task, the node outlives the task; it must not outlive the executor.
void WatchExecutor(long pid) {
  if (pid <= 0) return;
  std::thread([pid] {
    for (;;) {
      std::this_thread::sleep_for(kExecutorWatchInterval);
      if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        LogError("the Spark executor (pid " + std::to_string(pid) + ") is gone; exiting");
        ExitNow(3);
      }
    }
  }).detach();
}

// Heartbeats: the node's state, progress and URLs, every interval while map_fun runs, and once
// more at Finish, so that what it reported reaches the driver even when map_fun ends before the
// heartbeat thread first ran (a loaded machine).
class Heartbeats {
 public:
  Heartbeats(reservation::ControlChannel* control, std::shared_ptr<Context::State> state,
             feed::FeedRegistry* registry, std::chrono::milliseconds interval)
      : control_(control), state_(std::move(state)), registry_(registry) {
    thread_ = std::thread([this, interval] {
      while (running_) {
        Send();
        auto until = net::Clock::now() + interval;
        while (running_ && net::Clock::now() < until)
          std::this_thread::sleep_for(kHeartbeatStopPoll);
      }
    });
  }
  ~Heartbeats() { Stop(); }

  // Stops the thread and sends the last heartbeat, with `status` as the node's state.
  void Finish(const std::string& status) {
    Stop();
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->status = status;
    }
    Send();
  }

 private:
  void Stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  void Send() {
    nlohmann::json hb;
    uint64_t progress = state_->progress;
    nlohmann::json feeds = nlohmann::json::object();
    std::string waiting;
    for (auto& q : registry_->All()) {
      feeds[q->name()] = q->consumed();
      progress += q->consumed();
      if (q->consumer_waiting()) waiting += (waiting.empty() ? "" : ", ") + ("'" + q->name() + "'");
    }
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      hb["state"] =
          state_->status + (waiting.empty() ? "" : "; waiting for data on feed " + waiting);
      hb["urls"] = state_->urls;
    }
    hb["progress"] = progress;
    hb["feeds"] = feeds;
    // A failed send means the channel is gone: its reader reports that and exits the node.
    (void)control_->SendHeartbeat(hb.dump());
  }

  reservation::ControlChannel* control_;
  std::shared_ptr<Context::State> state_;
  feed::FeedRegistry* registry_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

// Runs map_fun; 0 if it returned, 1 if it threw. The error goes to the driver on the control
// channel and to this node's log, whose last lines the driver prints with every failure: if the
// channel cannot carry it, the log does.
int RunMapFun(const MapFun& map_fun, Context& ctx, reservation::ControlChannel& control) {
  auto report = [&](std::string message) {
    constexpr size_t kMaxReport = 64 << 10;  // well under the control channel's frame limit
    if (message.size() > kMaxReport)
      message = message.substr(0, kMaxReport) + " ... (cut at 64 KiB)";
    Status st = control.SendError(message);
    if (!st.ok()) LogError("could not report this failure to the driver (" + st.message() + ")");
  };
  try {
    map_fun(g_args, ctx);
    return 0;
  } catch (const std::exception& e) {
    LogError(std::string("map_fun failed: ") + e.what());
    report(e.what());
  } catch (...) {
    LogError("map_fun failed with a non-standard exception");
    report("map_fun threw a non-standard exception");
  }
  return 1;
}

// map_fun is done with its feeds: their senders are told to stop (not a failure); a feed it
// left unfinished after success is worth a warning.
void CloseFeeds(feed::FeedRegistry& registry, bool succeeded) {
  for (auto& q : registry.All()) {
    if (succeeded && !q->ShouldStop()) {
      LogWarning("map_fun returned before feed '" + q->name() + "' ended (" + q->Describe() +
                 "); the rest of it is dropped. Call terminate() on a feed you stop reading early");
    }
    q->Terminate();
  }
  registry.ShutdownAll();
}

}  // namespace

int RunNode(const MapFun& map_fun) {
  // Training allocates the same large buffers every step; glibc would mmap and unmap each of
  // them and take fresh page faults every step. Keep them in the heap instead.
  // NOLINTBEGIN(concurrency-mt-unsafe): before any thread starts
  ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // NOLINTEND(concurrency-mt-unsafe)
  SetLogTag("executor " + Env("TOS_EXECUTOR_ID", "?"));

  // 1. The environment the launcher gave, the node's state and reserved port, its feed server.
  auto parsed = NodeEnv::FromEnv();
  auto server = parsed.ok() ? net::ParseHostPort(parsed->reservation)
                            : Result<net::HostPort>(parsed.status());
  if (!parsed.ok() || !server.ok()) {
    LogError(std::string("cannot start as a node: ") + (parsed.ok() ? "TOS_RESERVATION: " : "") +
             server.status().message());
    return 2;
  }
  const NodeEnv& env = *parsed;
  net::SetDefaultPeerTimeout(env.node_timeout);
  const std::string host = AdvertisedHost(env);
  auto made = NewState(env, server->ToString(), host);
  if (!made.ok()) {
    LogError(made.status().message());
    return 2;
  }
  std::shared_ptr<Context::State> state = *made;
  // A full queue whose consumer reads nothing fails the feed here only a while after the
  // senders' own feed_timeout, so their report (it says how far the feed got) comes first.
  constexpr auto kQueueTimeoutMargin = std::chrono::seconds(5);
  feed::FeedRegistry registry(env.feed_queue_bytes, env.feed_timeout + kQueueTimeoutMargin);
  state->feeds = &registry;
  feed::FeedServer::Options fo;
  fo.secret = env.secret;
  fo.port_spec = env.feed_port;
  auto feed_server = feed::FeedServer::Start(fo, &registry);
  if (!feed_server.ok()) {
    LogError("cannot start the feed server: " + feed_server.status().message());
    return 2;
  }

  // 2. Join: register with the driver and wait for the cluster spec. From now on the node
  // ends with its executor, also while it waits.
  WatchExecutor(env.watch_pid);
  reservation::Registration reg;
  reg.executor_id = env.executor_id;
  reg.host = host;
  reg.port = state->reserved->port();
  reg.feed_port = (*feed_server)->port();
  reg.pid = static_cast<int>(::getpid());
  reg.instance = net::GenerateSecret().substr(0, 16);
  reg.log = env.node_log;  // set by the Spark executor that started this node
  reservation::ClusterReply reply;
  auto control = reservation::ControlChannel::Register(*server, env.secret, reg,
                                                       net::Clock::now() + env.reservation_timeout,
                                                       env.node_timeout, &reply);
  if (!control.ok()) {
    LogError("could not join the cluster: " + control.status().message());
    return 2;
  }
  state->job_name = reply.job_name;
  state->task_index = reply.task_index;
  state->cluster = reply.cluster;
  state->num_executors = reply.num_executors;
  const std::string label = RoleLabel({reply.job_name, reply.task_index});
  SetLogTag(label);
  LogInfo(label + " (executor " + std::to_string(env.executor_id) + ", pid " +
          std::to_string(::getpid()) + ") joined the cluster; reserved port " +
          std::to_string(reg.port));
  // For map_fun's code that reads the environment. The threads already running (feed server,
  // their connections) never read it, so setenv races with nothing here.
  // NOLINTBEGIN(concurrency-mt-unsafe)
  ::setenv("TOS_CLUSTER_SPEC", ClusterSpecToJson(reply.cluster).c_str(), 1);
  ::setenv("TOS_JOB_NAME", reply.job_name.c_str(), 1);
  ::setenv("TOS_TASK_INDEX", std::to_string(reply.task_index).c_str(), 1);
  // NOLINTEND(concurrency-mt-unsafe)
  StartControlReader(**control, state, env.node_timeout);

  // 3. map_fun, with heartbeats around it; then the driver hears how it ended.
  Context ctx(state);
  MaybeStartTensorBoard(ctx, env);  // before the first heartbeat, which carries its URL
  int code = 0;
  {
    Heartbeats heartbeats(control->get(), state, &registry, env.heartbeat);
    {
      std::lock_guard<std::mutex> lock(state->mu);
      state->status = "running map_fun";
    }
    code = RunMapFun(map_fun, ctx, **control);
    heartbeats.Finish(code == 0 ? "map_fun finished" : "map_fun failed");
  }
  if (code == 0) {
    Status st = (*control)->SendDone();
    if (!st.ok())
      LogError("could not tell the driver that map_fun finished (" + st.message() + ")");
  }
  CloseFeeds(registry, code == 0);
  (*feed_server)->Stop();
  (*control)->Close();
  return code;
}

bool IsNodeProcess() { return std::getenv("TOS_EXECUTOR_ID") != nullptr; }

const std::vector<std::string>& ProgramArgs() { return g_args; }

void SetProgramArgs(std::vector<std::string> args) { g_args = std::move(args); }

}  // namespace tos
