// The node runner: what a process started by a launcher does before, around and after the
// user's map_fun (docs/protocol.md describes the exchange with the driver).
#include <malloc.h>
#include <pwd.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "feed/feed_server.h"
#include "net/auth.h"
#include "node/node_env.h"
#include "node/node_state.h"
#include "reservation/client.h"
#include "spark/bridge.h"
#include "tos/tos.h"
#include "util/log.h"

namespace tos {
namespace {

std::vector<std::string> g_args;

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

[[noreturn]] void ExitNow(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(code);
}

std::string CurrentUser() {
  std::string u = Env("USER");
  if (!u.empty()) return u;
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr) return found->pw_name;
  return "root";
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
    LogWarning("TensorBoard was asked for but `tensorboard` is not on PATH; install it (pip install "
               "tensorboard) or run: tensorboard --logdir " + logdir);
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
  std::string host = net::AdvertisedHost();
  std::string port_s = std::to_string(port);
  // Everything the child needs is built before fork: between fork and exec it calls only
  // async-signal-safe functions (another thread may hold the allocator's lock). A close-on-exec
  // pipe tells the parent whether exec worked: end of file means it did, four bytes are errno.
  const char* argv[] = {exe.c_str(), "--logdir", logdir.c_str(), "--host", host.c_str(), "--port", port_s.c_str(), nullptr};
  int exec_status[2];
  if (::pipe2(exec_status, O_CLOEXEC) != 0) {
    LogWarning(std::string("TensorBoard not started: pipe: ") + StrError(errno) +
               "; run: tensorboard --logdir " + logdir);
    ctx.ReportUrl("TensorBoard command", "tensorboard --logdir " + logdir);
    return;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(exec_status[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
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

int RunNode(const MapFun& map_fun) {
  // Training allocates the same large buffers every step; glibc would mmap and unmap each of
  // them and take fresh page faults every step. Keep them in the heap instead.
  ::mallopt(M_MMAP_THRESHOLD, 256 << 20);  // NOLINT(concurrency-mt-unsafe): before any thread
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);  // NOLINT(concurrency-mt-unsafe)
  SetLogTag("executor " + Env("TOS_EXECUTOR_ID", "?"));
  auto parsed = NodeEnv::FromEnv();
  auto server = parsed.ok() ? net::ParseHostPort(parsed->reservation) : Result<net::HostPort>(parsed.status());
  if (!parsed.ok() || !server.ok()) {
    LogError(std::string("cannot start as a node: ") + (parsed.ok() ? "TOS_RESERVATION: " : "") + server.status().message());
    return 2;
  }
  const NodeEnv& env = *parsed;
  const int executor_id = env.executor_id;
  const auto reservation_timeout = env.reservation_timeout;
  const auto feed_timeout = env.feed_timeout;
  const auto heartbeat = env.heartbeat;
  const auto node_timeout = env.node_timeout;
  net::SetDefaultPeerTimeout(node_timeout);

  auto state = std::make_shared<Context::State>();
  state->executor_id = executor_id;
  state->secret = env.secret;
  state->reservation_address = server->ToString();
  state->input_mode = env.input_mode;
  state->default_fs = env.default_fs;
  char cwd[PATH_MAX] = {0};
  state->working_dir = !env.working_dir.empty() ? env.working_dir : ::getcwd(cwd, sizeof(cwd)) ? cwd : ".";
  state->log_dir = !env.log_dir.empty() ? env.log_dir : state->working_dir + "/tos_logs";
  state->user = CurrentUser();
  state->threads = env.threads;
  const std::string host = net::AdvertisedHost();

  // The reserved port: bound (not listening) with SO_REUSEPORT and held until the training
  // code's server has bound the same port.
  auto port_range = net::ParsePortRange(env.node_port);
  if (!port_range.ok()) {
    LogError("TOS_NODE_PORT: " + port_range.status().message());
    return 2;
  }
  net::ListenOptions lo;
  lo.reuse_port = true;
  lo.listen = false;
  auto reserved = net::ListenInRange(lo, port_range->first, port_range->second);
  if (!reserved.ok()) {
    LogError("cannot reserve a port: " + reserved.status().message());
    return 2;
  }
  int reserved_port = reserved->LocalPort();
  state->reserved = std::make_unique<ReservedPort>(host, reserved_port, reserved->Release());

  // A full queue whose consumer reads nothing fails the feed here only a while after the
  // senders' own feed_timeout, so their report (it says how far the feed got) comes first.
  constexpr auto kQueueTimeoutMargin = std::chrono::seconds(5);
  feed::FeedRegistry registry(env.feed_queue_bytes, feed_timeout + kQueueTimeoutMargin);
  state->feeds = &registry;
  feed::FeedServer::Options fo;
  fo.secret = env.secret;
  fo.port_spec = env.feed_port;
  auto feed_server = feed::FeedServer::Start(fo, &registry);
  if (!feed_server.ok()) {
    LogError("cannot start the feed server: " + feed_server.status().message());
    return 2;
  }

  reservation::Registration reg;
  reg.executor_id = executor_id;
  reg.host = host;
  reg.port = reserved_port;
  reg.feed_port = (*feed_server)->port();
  reg.pid = static_cast<int>(::getpid());
  reg.instance = net::GenerateSecret().substr(0, 16);
  reg.log = env.node_log;  // set by the Spark executor that started this node
  reservation::ClusterReply reply;
  auto control = reservation::ControlChannel::Register(*server, env.secret, reg, net::Clock::now() + reservation_timeout, &reply);
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
  LogInfo(label + " (executor " + std::to_string(executor_id) + ", pid " + std::to_string(::getpid()) +
          ") joined the cluster; reserved port " + std::to_string(reserved_port));
  // For map_fun's code that reads the environment. The threads already running (feed server,
  // their connections) never read it, so setenv races with nothing here.
  ::setenv("TOS_CLUSTER_SPEC", ClusterSpecToJson(reply.cluster).c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  ::setenv("TOS_JOB_NAME", reply.job_name.c_str(), 1);                       // NOLINT(concurrency-mt-unsafe)
  ::setenv("TOS_TASK_INDEX", std::to_string(reply.task_index).c_str(), 1);   // NOLINT(concurrency-mt-unsafe)

  (*control)->StartReader({
      [state] {
        {
          std::lock_guard<std::mutex> lock(state->mu);
          state->stop = true;
        }
        state->stop_cv.notify_all();
      },
      [label](const std::string& message) {
        LogError("job aborted by the driver: " + message.substr(0, message.find('\n')));
        ExitNow(3);
      },
      [label](const Status& why) {
        LogError("lost the driver's control channel (" + why.message() + "); exiting");
        ExitNow(3);
      },
  }, node_timeout);

  // Started by a Spark task, the node outlives the task; it must not outlive the executor.
  if (long watch = env.watch_pid; watch > 0) {
    std::thread([watch] {
      for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        if (::kill(static_cast<pid_t>(watch), 0) != 0 && errno == ESRCH) {
          LogError("the Spark executor (pid " + std::to_string(watch) + ") is gone; exiting");
          ExitNow(3);
        }
      }
    }).detach();
  }

  Context ctx(state);
  // Before the first heartbeat, so the driver learns TensorBoard's URL even from a node that
  // finishes within a heartbeat interval.
  MaybeStartTensorBoard(ctx, env);

  // Heartbeats: the node's state, progress and URLs, every interval while map_fun runs, and
  // once more when it is over, so that what it reported reaches the driver even when map_fun
  // ends before the heartbeat thread first ran (a loaded machine).
  auto send_heartbeat = [&] {
    nlohmann::json hb;
    uint64_t progress = state->progress;
    nlohmann::json feeds = nlohmann::json::object();
    std::string waiting;
    for (auto& q : registry.All()) {
      feeds[q->name()] = q->consumed();
      progress += q->consumed();
      if (q->consumer_waiting()) waiting += (waiting.empty() ? "" : ", ") + ("'" + q->name() + "'");
    }
    {
      std::lock_guard<std::mutex> lock(state->mu);
      hb["state"] = state->status + (waiting.empty() ? "" : "; waiting for data on feed " + waiting);
      hb["urls"] = state->urls;
    }
    hb["progress"] = progress;
    hb["feeds"] = feeds;
    // A failed send means the channel is gone: its reader reports that and exits the node.
    (void)(*control)->SendHeartbeat(hb.dump());
  };
  std::atomic<bool> running{true};
  std::thread heartbeat_thread([&] {
    while (running) {
      send_heartbeat();
      auto until = net::Clock::now() + heartbeat;
      while (running && net::Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  int code = 0;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    state->status = "running map_fun";
  }
  // The error goes to the driver on the control channel and to this node's log, whose last
  // lines the driver prints with every failure: if the channel cannot carry it, the log does.
  auto report = [&](std::string message) {
    constexpr size_t kMaxReport = 64 << 10;  // well under the control channel's frame limit
    if (message.size() > kMaxReport) message = message.substr(0, kMaxReport) + " ... (cut at 64 KiB)";
    Status st = (*control)->SendError(message);
    if (!st.ok()) LogError("could not report this failure to the driver (" + st.message() + ")");
  };
  try {
    map_fun(g_args, ctx);
  } catch (const std::exception& e) {
    code = 1;
    LogError(std::string("map_fun failed: ") + e.what());
    report(e.what());
  } catch (...) {
    code = 1;
    LogError("map_fun failed with a non-standard exception");
    report("map_fun threw a non-standard exception");
  }
  running = false;
  heartbeat_thread.join();
  {
    std::lock_guard<std::mutex> lock(state->mu);
    state->status = code == 0 ? "map_fun finished" : "map_fun failed";
  }
  send_heartbeat();
  if (code == 0) {
    Status st = (*control)->SendDone();
    if (!st.ok()) LogError("could not tell the driver that map_fun finished (" + st.message() + ")");
  }
  // map_fun is done with its feeds: tell their senders to stop (not a failure), then close.
  for (auto& q : registry.All()) {
    if (code == 0 && !q->ShouldStop()) {
      LogWarning("map_fun returned before feed '" + q->name() + "' ended (" + q->Describe() +
                 "); the rest of it is dropped. Call terminate() on a feed you stop reading early");
    }
    q->Terminate();
  }
  registry.ShutdownAll();
  (*feed_server)->Stop();
  (*control)->Close();
  return code;
}

}  // namespace

bool IsNodeProcess() { return std::getenv("TOS_EXECUTOR_ID") != nullptr; }

const std::vector<std::string>& ProgramArgs() { return g_args; }

int Main(int argc, char** argv, const MapFun& map_fun, const DriverFun& driver_fun) {
  g_args.assign(argv + 1, argv + argc);
  if (spark::IsFeedClient()) ExitNow(spark::RunFeedClient());
  if (spark::IsDriverService()) ExitNow(spark::RunDriverService(g_args));
  if (IsNodeProcess()) {
    ::signal(SIGPIPE, SIG_IGN);
    int code = RunNode(map_fun);
    ExitNow(code);  // never run static destructors under threads the user may have left
  }
  SetLogTag("driver");
  ::signal(SIGPIPE, SIG_IGN);
  return driver_fun(g_args);
}

}  // namespace tos
