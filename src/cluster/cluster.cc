#include "tos/cluster.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "feed/feeder.h"
#include "net/auth.h"
#include "node/node_env.h"
#include "reservation/server.h"
#include "tos/partitioned_dir.h"
#include "tos/tos.h"
#include "util/console.h"
#include "util/cpu.h"
#include "util/log.h"

namespace tos {
namespace {

using Clock = std::chrono::steady_clock;
using reservation::NodeEvent;

std::atomic<int> g_signal{0};
std::atomic<int> g_signal_count{0};

void OnSignal(int sig) {
  g_signal = sig;
  g_signal_count++;
}

std::string EnvOr(const std::string& value, const char* env) {
  if (!value.empty()) return value;
  const char* v = std::getenv(env);
  return v ? v : "";
}

std::string AbsolutePath(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char cwd[PATH_MAX] = {0};
  if (!::getcwd(cwd, sizeof(cwd))) return p;
  return std::string(cwd) + "/" + p;
}

std::string FormatCount(double v) {
  char buf[64];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

struct NodeRecord {
  RoleAssignment role;
  std::string label;  // "worker:1 (executor 2)"
  bool registered = false;
  bool done = false;
  bool exited = false;
  bool disconnected = false;
  bool stop_sent = false;
  ExecutorExit exit;
  std::string error_message;
  Clock::time_point error_at{};
  Clock::time_point disconnected_at{};
  std::string state = "starting";
  uint64_t progress = 0;
  Clock::time_point last_progress{};
  Clock::time_point last_heartbeat{};
  bool stall_warned = false;
  bool silence_warned = false;
  bool trainer() const { return role.job_name == "chief" || role.job_name == "worker"; }
};

}  // namespace

struct Cluster::Impl {
  ClusterOptions opts;
  RoleLayout layout;
  std::string secret;
  std::unique_ptr<reservation::ReservationServer> rs;
  std::shared_ptr<Launcher> launcher;
  ClusterSpec spec;

  mutable std::mutex mu;
  // Written by Run once every node registered, while the monitor and launcher threads already
  // run (they read it in failure reports): guarded by mu.
  std::map<int, reservation::Registration> regs;
  std::condition_variable cv;
  std::vector<NodeRecord> nodes;
  Status failure;
  Clock::time_point kill_at{};
  bool killed = false;
  bool shut_down = false;
  std::shared_ptr<net::CancelToken> active_feed;
  std::vector<feed::TargetProgress>* progress = nullptr;
  std::string progress_name;
  uint64_t last_records = 0;
  Clock::time_point last_rate_at{};
  Clock::time_point last_tick{};
  std::map<std::string, std::string> urls;

  std::thread monitor;
  std::atomic<bool> monitor_stop{false};

  // Requires mu held.
  std::string Where(int id) const {
    auto it = regs.find(id);
    return it == regs.end() ? std::string("(unregistered)") : it->second.host;
  }

  // Requires mu held.
  std::string Report(int id, const std::string& what) {
    const NodeRecord& n = nodes[id];
    std::string r = n.label + " on " + Where(id) + " " + what;
    if (!n.error_message.empty()) r += ": " + n.error_message;
    auto lines = launcher->LastLines(id);
    if (lines.empty()) {
      // A node started by a Spark executor: its log lies on that executor's host.
      auto reg = regs.find(id);
      if (reg != regs.end() && !reg->second.log.empty()) r += "\n  its log: " + reg->second.log + " on " + reg->second.host;
    }
    if (!lines.empty()) {
      r += "\n  last lines of " + launcher->LogPath(id) + ":";
      size_t from = lines.size() > 10 ? lines.size() - 10 : 0;
      for (size_t i = from; i < lines.size(); ++i) r += "\n    " + lines[i];
    }
    return r;
  }

  // First failure wins. Requires mu NOT held.
  void Fail(const Status& st) {
    std::shared_ptr<net::CancelToken> feed;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!failure.ok()) return;
      failure = st;
      kill_at = Clock::now() + opts.kill_grace;
      feed = active_feed;
      cv.notify_all();
    }
    ConsoleStatus("");
    LogError("job failed: " + st.message());
    if (feed) feed->Cancel(st);
    if (rs) {
      rs->Abort(st);
      rs->BroadcastJobError(st.message());
    }
  }

  void OnEvent(const NodeEvent& e) {
    RecordEvent(e);
    if (e.kind == NodeEvent::kRegistered) launcher->NodeConnected(e.executor_id);
    if (e.kind == NodeEvent::kDisconnected) {
      bool finished, failed;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (e.executor_id < 0 || e.executor_id >= static_cast<int>(nodes.size())) return;
        finished = nodes[e.executor_id].done;
        failed = !nodes[e.executor_id].error_message.empty();
      }
      launcher->NodeDisconnected(e.executor_id, finished, failed);
    }
  }

  void RecordEvent(const NodeEvent& e) {
    std::unique_lock<std::mutex> lock(mu);
    if (e.executor_id < 0 || e.executor_id >= static_cast<int>(nodes.size())) return;
    NodeRecord& n = nodes[e.executor_id];
    auto now = Clock::now();
    switch (e.kind) {
      case NodeEvent::kRegistered:
        n.registered = true;
        n.disconnected = false;
        n.last_heartbeat = n.last_progress = now;
        break;
      case NodeEvent::kHeartbeat: {
        n.last_heartbeat = now;
        try {
          auto j = nlohmann::json::parse(e.message);
          n.state = j.value("state", n.state);
          uint64_t p = j.value("progress", static_cast<uint64_t>(0));
          if (p != n.progress) {
            n.progress = p;
            n.last_progress = now;
            n.stall_warned = false;
          }
          if (j.contains("urls")) {
            for (auto& [k, v] : j["urls"].items()) {
              std::string url = v.get<std::string>();
              if (urls[k] != url) {
                urls[k] = url;
                ConsoleLine(k + " at " + url + " (on " + n.label + ")");  // NOLINT(performance-inefficient-string-concatenation): once per URL
              }
            }
          }
        } catch (const std::exception&) {
          LogWarning(n.label + " sent a malformed heartbeat");
        }
        n.silence_warned = false;
        break;
      }
      case NodeEvent::kError:
        n.error_message = e.message;
        n.error_at = now;
        break;
      case NodeEvent::kDone:
        n.done = true;
        break;
      case NodeEvent::kDisconnected:
        n.disconnected = true;
        n.disconnected_at = now;
        break;
    }
    cv.notify_all();
  }

  void OnExit(const ExecutorExit& ex) {
    std::string report;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (ex.executor_id < 0 || ex.executor_id >= static_cast<int>(nodes.size())) return;
      NodeRecord& n = nodes[ex.executor_id];
      n.exited = true;
      n.exit = ex;
      cv.notify_all();
      if (ex.ok() || !failure.ok()) return;
      report = Report(ex.executor_id, "failed (" + ex.Describe() + ")");
    }
    Fail(Aborted(report));
  }

  void MonitorTick() {
    auto now = Clock::now();
    std::vector<Status> failures;
    std::vector<std::string> warnings;
    bool do_kill = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      // The driver itself was paused (stopped, swapping): the nodes' heartbeats wait unread in
      // its sockets, so their silence is the driver's, not theirs. Start their clocks again.
      const bool driver_paused = last_tick != Clock::time_point{} && now - last_tick > std::chrono::seconds(2);
      last_tick = now;
      for (size_t i = 0; i < nodes.size(); ++i) {
        NodeRecord& n = nodes[i];
        if (driver_paused) n.last_heartbeat = std::max(n.last_heartbeat, now - std::chrono::seconds(1));
        if (!n.error_message.empty() && !n.exited && now - n.error_at > std::chrono::seconds(1) && failure.ok()) {
          failures.push_back(Aborted(Report(static_cast<int>(i), "failed")));
        }
        if (n.disconnected && !n.exited && !n.done && !n.stop_sent &&
            now - n.disconnected_at > std::chrono::seconds(2) && failure.ok()) {
          failures.push_back(Unavailable(Report(static_cast<int>(i), "lost its connection to the driver (node died or network failed)")));
        }
        if (!n.registered || n.done || n.exited || n.disconnected) continue;
        if (n.trainer() && !n.stall_warned && now - n.last_progress > opts.stall_warning) {
          n.stall_warned = true;
          warnings.push_back(n.label + " made no progress for " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - n.last_progress).count()) +
                             " s; it is: " + n.state);
        }
        if (now - n.last_heartbeat > opts.node_timeout && failure.ok()) {
          failures.push_back(Unavailable(Report(
              static_cast<int>(i),
              "sent no heartbeat for " +
                  std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - n.last_heartbeat).count()) +
                  " s (node_timeout " + std::to_string(opts.node_timeout.count()) + " s; last state: " + n.state +
                  "): the process is stopped or frozen, or its host is unreachable. If pauses this long are "
                  "expected, raise node_timeout (--node_timeout)")));
          continue;
        }
        auto silence = std::min<std::chrono::milliseconds>(
            std::max<std::chrono::milliseconds>(std::chrono::seconds(15), opts.heartbeat_interval * 10), opts.node_timeout / 2);
        if (!n.silence_warned && now - n.last_heartbeat > silence) {
          n.silence_warned = true;
          warnings.push_back("no heartbeat from " + n.label + " for " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - n.last_heartbeat).count()) +
                             " s (last state: " + n.state + "); is the process stopped or overloaded?");
        }
      }
      if (!failure.ok() && !killed && now >= kill_at) {
        killed = true;
        do_kill = true;
      }
      if (progress && failure.ok()) {
        uint64_t records = 0;
        int terminated = 0;
        for (auto& p : *progress) {
          records += p.records_sent;
          terminated += p.terminated ? 1 : 0;
        }
        double secs = std::chrono::duration<double>(now - last_rate_at).count();
        if (secs >= 1.0) {
          double rate = (records - last_records) / secs;
          last_records = records;
          last_rate_at = now;
          int epoch = 0;
          for (auto& p : *progress) epoch = std::max(epoch, p.epoch.load() + 1);
          ConsoleStatus("feed '" + progress_name + "': epoch " + std::to_string(epoch) + ", " +
                        FormatCount(static_cast<double>(records)) + " records fed, " + FormatCount(rate) +
                        " records/s" + (terminated ? ", " + std::to_string(terminated) + " terminated" : ""));
        }
      }
    }
    for (auto& w : warnings) LogWarning(w);
    for (auto& f : failures) Fail(f);
    if (do_kill) launcher->SignalAll(SIGKILL);
    int sig = g_signal.load();
    if (sig != 0) {
      if (g_signal_count > 1) {  // a second signal before this tick: exit at once
        launcher->SignalAll(SIGKILL);
        ::_exit(128 + sig);
      }
      Fail(Aborted(std::string("interrupted by signal ") + std::to_string(sig) + "; stopping every node"));
      launcher->SignalAll(SIGTERM);
      if (!launcher->WaitAll(opts.kill_grace)) launcher->SignalAll(SIGKILL);
      launcher->WaitAll(std::chrono::seconds(5));
      ConsoleStatus("");
      LogError("interrupted; all nodes stopped");
      ExitInterrupted(sig);
    }
  }

  // An interrupted driver exits from this (the monitor) thread: the main thread is in user
  // code and may be blocked anywhere. The threads the cluster owns are stopped and joined
  // first, so none is left running or finished-but-unjoined when the process ends. The other
  // objects stay alive (the main thread may still hold them) until _exit.
  [[noreturn]] void ExitInterrupted(int sig) {
    launcher->Stop();
    if (rs) rs->Stop();
    std::fflush(nullptr);
    ::_exit(128 + sig);
  }

  void MonitorLoop() {
    while (!monitor_stop) {
      MonitorTick();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  Status CurrentFailure() const {
    std::lock_guard<std::mutex> lock(mu);
    return failure;
  }

  void KillAndReap() {
    launcher->SignalAll(SIGKILL);
    launcher->WaitAll(std::chrono::seconds(10));
  }

  std::vector<feed::FeedTarget> Trainers() const {
    std::vector<std::pair<int, feed::FeedTarget>> t;
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i].trainer()) continue;
      auto it = regs.find(static_cast<int>(i));
      if (it == regs.end()) continue;
      feed::FeedTarget target;
      target.executor_id = static_cast<int>(i);
      target.label = nodes[i].label;
      target.address = {it->second.host, it->second.feed_port};
      int order = nodes[i].role.job_name == "chief" ? -1 : nodes[i].role.task_index;
      t.emplace_back(order, target);
    }
    std::sort(t.begin(), t.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::vector<feed::FeedTarget> out;
    out.reserve(t.size());
    for (auto& [o, target] : t) out.push_back(target);
    return out;
  }

  Status RunFeeds(const std::vector<Cluster::NamedFeed>& feeds, feed::FeedMode mode, const std::string& output_dir) {
    TOS_RETURN_IF_ERROR(CurrentFailure());
    auto targets = Trainers();
    auto cancel = std::make_shared<net::CancelToken>();
    size_t total_targets = targets.size() * feeds.size();
    std::vector<feed::TargetProgress> prog(total_targets);
    {
      std::lock_guard<std::mutex> lock(mu);
      active_feed = cancel;
      progress = &prog;
      progress_name = feeds.size() == 1 ? feeds[0].name : std::to_string(feeds.size()) + " feeds";
      last_rate_at = Clock::now();
      last_records = 0;
    }
    std::vector<Status> results(feeds.size());
    std::vector<std::thread> threads;
    for (size_t f = 0; f < feeds.size(); ++f) {
      threads.emplace_back([&, f] {
        feed::FeedJob job;
        job.secret = secret;
        job.feed_name = feeds[f].name;
        job.mode = mode;
        job.epochs = feeds[f].epochs;
        job.feed_timeout = opts.feed_timeout;
        job.output_dir = output_dir;
        job.cancel = cancel.get();
        job.describe_node = [this](int id) {
          std::lock_guard<std::mutex> lock(mu);
          return std::to_string(nodes[id].progress) + " records consumed and is '" + nodes[id].state + "'";
        };
        // This feed's counters are its slice of the vector the status line reads.
        job.progress = prog.empty() ? nullptr : prog.data() + f * targets.size();
        results[f] = feed::RunFeed(*feeds[f].data, targets, job);
        uint64_t total = 0;
        for (size_t t = 0; job.progress && t < targets.size(); ++t) total += job.progress[t].records_sent;
        LogInfo("feed '" + feeds[f].name + "': " + std::to_string(total) + " records sent to " +
                std::to_string(targets.size()) + " nodes");
      });
    }
    for (auto& t : threads) t.join();
    {
      std::lock_guard<std::mutex> lock(mu);
      active_feed.reset();
      progress = nullptr;
    }
    ConsoleStatus("");
    for (auto& r : results) {
      // A broken feed connection usually means its node died: give the node's own report
      // (exit status, signal, log lines) the moment it takes to arrive, and prefer it.
      if (r.code() == StatusCode::kUnavailable) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, std::chrono::seconds(3), [&] { return !failure.ok(); });
      }
    }
    Status fail = CurrentFailure();
    if (!fail.ok()) return fail;
    for (auto& r : results) {
      if (!r.ok()) {
        Fail(r);
        return r;
      }
    }
    return Status::OK();
  }
};

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Cluster::~Cluster() {
  if (!impl_) return;
  if (!impl_->shut_down) impl_->KillAndReap();
  impl_->monitor_stop = true;
  if (impl_->monitor.joinable()) impl_->monitor.join();
  if (impl_->rs) impl_->rs->Stop();
}

Result<std::unique_ptr<Cluster>> Cluster::Run(ClusterOptions opts) {
  auto impl = std::make_unique<Impl>();
  impl->layout = {opts.num_executors, opts.num_ps, opts.master_node, opts.eval_node};
  TOS_RETURN_IF_ERROR(ValidateLayout(impl->layout));
  impl->secret = opts.secret.empty() ? net::GenerateSecret() : opts.secret;
  bool local = !opts.launcher;
  impl->launcher = local ? std::shared_ptr<Launcher>(MakeLocalLauncher()) : opts.launcher;
  opts.server_port = EnvOr(opts.server_port, "TOS_SERVER_PORT");
  opts.server_host = EnvOr(opts.server_host, "TOS_SERVER_HOST");
  opts.node_port = EnvOr(opts.node_port, "TOS_NODE_PORT");
  opts.feed_port = EnvOr(opts.feed_port, "TOS_FEED_PORT");
  if (opts.server_host.empty()) opts.server_host = local ? "127.0.0.1" : net::AdvertisedHost();
  if (opts.program.empty()) {
    char self[PATH_MAX] = {0};
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) return Internal("cannot find this program's path (/proc/self/exe)");
    opts.program = std::string(self, static_cast<size_t>(n));
  }
  if (opts.node_args.empty()) opts.node_args = ProgramArgs();
  opts.log_dir = AbsolutePath(opts.log_dir);
  if (opts.node_timeout < std::chrono::seconds(2) || opts.node_timeout < 3 * opts.heartbeat_interval) {
    return InvalidArgument("node_timeout (" + std::to_string(opts.node_timeout.count()) +
                           " s) must be at least 2 s and three heartbeat intervals");
  }
  net::SetDefaultPeerTimeout(opts.node_timeout);
  impl->opts = opts;

  impl->nodes.resize(opts.num_executors);
  for (int i = 0; i < opts.num_executors; ++i) {
    impl->nodes[i].role = RoleFor(impl->layout, i);
    impl->nodes[i].label = RoleLabel(impl->nodes[i].role) + " (executor " + std::to_string(i) + ")";
  }

  reservation::ReservationServer::Options ro;
  ro.secret = impl->secret;
  ro.layout = impl->layout;
  ro.advertise_host = opts.server_host;
  ro.bind_host = local ? "127.0.0.1" : "0.0.0.0";
  ro.port_spec = opts.server_port;
  Impl* raw = impl.get();
  ro.on_event = [raw](const NodeEvent& e) { raw->OnEvent(e); };
  ro.heartbeat_interval = opts.heartbeat_interval;
  ro.node_timeout = opts.node_timeout;
  TOS_ASSIGN_OR_RETURN(impl->rs, reservation::ReservationServer::Start(ro));
  std::cout << "reservation server at " << impl->rs->address().ToString() << std::endl;

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  LaunchSpec ls;
  ls.num_executors = opts.num_executors;
  ls.argv.push_back(opts.program);
  for (auto& a : opts.node_args) ls.argv.push_back(a);
  ls.log_dir = opts.log_dir;
  ls.echo_output = opts.echo_node_output;
  NodeEnv ne;
  ne.reservation = impl->rs->address().ToString();
  ne.secret = impl->secret;
  ne.num_executors = opts.num_executors;
  ne.log_dir = opts.log_dir;
  char cwd[PATH_MAX] = {0};
  ne.working_dir = ::getcwd(cwd, sizeof(cwd)) ? cwd : ".";
  ne.reservation_timeout = opts.reservation_timeout;
  ne.feed_timeout = opts.feed_timeout;
  ne.heartbeat = opts.heartbeat_interval;
  ne.node_timeout = opts.node_timeout;
  ne.input_mode = opts.input_mode;
  ne.threads = opts.threads_per_node;
  ne.tensorboard = opts.tensorboard;
  if (local) ne.host = "127.0.0.1";
  ne.node_port = opts.node_port;
  ne.feed_port = opts.feed_port;
  ls.env = ne.ToEnv();
  const std::string threads = std::to_string(opts.threads_per_node);
  for (const char* v : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}) ls.env[v] = threads;
  // OpenBLAS reads its kernel choice when it loads: name it for the nodes unless the user did.
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    std::string core = OpenBlasCoreTypeForThisCpu();
    if (!core.empty()) ls.env["OPENBLAS_CORETYPE"] = core;
  }
  for (auto& [k, v] : opts.node_env) ls.env[k] = v;
  ls.executor_env = [](int id) { return std::map<std::string, std::string>{{"TOS_EXECUTOR_ID", std::to_string(id)}}; };
  auto layout = impl->layout;
  ls.executor_name = [layout](int id) {
    auto r = RoleFor(layout, id);
    return r.job_name + "-" + std::to_string(r.task_index);
  };
  Status launched = impl->launcher->Launch(ls, [raw](const ExecutorExit& ex) { raw->OnExit(ex); });
  if (!launched.ok()) {
    impl->KillAndReap();
    return launched.WithContext("launching " + std::to_string(opts.num_executors) + " nodes");
  }
  impl->monitor = std::thread([raw] { raw->MonitorLoop(); });
  std::unique_ptr<Cluster> cluster(new Cluster(std::move(impl)));

  auto spec = raw->rs->AwaitAll(Clock::now() + opts.reservation_timeout);
  if (!spec.ok()) {
    raw->Fail(spec.status());
    Status failure = raw->CurrentFailure();
    raw->KillAndReap();
    raw->shut_down = true;
    return failure;
  }
  raw->spec = *spec;
  {
    auto regs = raw->rs->registrations();
    std::lock_guard<std::mutex> lock(raw->mu);
    raw->regs = std::move(regs);
  }
  LogInfo("all " + std::to_string(opts.num_executors) + " nodes registered: " + ClusterSpecToJson(raw->spec));
  return cluster;
}

const ClusterSpec& Cluster::cluster_spec() const { return impl_->spec; }

Status Cluster::Train(const RecordSource& data, int epochs, const std::string& feed) {
  return TrainFeeds({{feed, &data, epochs}});
}

Status Cluster::TrainFeeds(const std::vector<NamedFeed>& feeds) {
  if (impl_->opts.input_mode == InputMode::kTensorflow) {
    LogWarning("Train() in InputMode::kTensorflow: feeding anyway (nodes read feeds only if they ask)");
  }
  return impl_->RunFeeds(feeds, feed::FeedMode::kTrain, "");
}

Status Cluster::Inference(const RecordSource& data, const std::string& output_dir, const std::string& feed,
                          bool overwrite) {
  TOS_ASSIGN_OR_RETURN(bool holds, HoldsDataset(output_dir));
  if (holds && !overwrite) {
    return AlreadyExists("output directory " + output_dir + " already holds a dataset; remove it or overwrite");
  }
  if (holds) TOS_RETURN_IF_ERROR(RemoveDataset(output_dir));
  return impl_->RunFeeds({{feed, &data, 1}}, feed::FeedMode::kInference, output_dir);
}

Status Cluster::Shutdown(std::chrono::seconds grace, std::chrono::seconds timeout) {
  Impl& im = *impl_;
  auto deadline = Clock::now() + timeout;
  auto trainers_finished = [&] {
    for (auto& n : im.nodes)
      if (n.trainer() && !n.done && !(n.exited && n.exit.ok())) return false;
    return true;
  };
  {
    std::unique_lock<std::mutex> lock(im.mu);
    while (im.failure.ok() && !trainers_finished()) {
      if (im.cv.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    if (im.failure.ok() && !trainers_finished()) {
      std::string running;
      for (auto& n : im.nodes)
        if (n.trainer() && !n.done && !n.exited) running += (running.empty() ? "" : ", ") + n.label + " (" + n.state + ")";
      lock.unlock();
      im.Fail(Timeout("application timeout after " + std::to_string(timeout.count()) + " s; still running: " + running));
    }
  }
  if (im.CurrentFailure().ok() && grace.count() > 0) {
    std::unique_lock<std::mutex> lock(im.mu);
    im.cv.wait_for(lock, grace, [&] { return !im.failure.ok(); });
  }
  if (im.CurrentFailure().ok()) {
    for (size_t i = 0; i < im.nodes.size(); ++i) {
      bool send = false;
      {
        std::lock_guard<std::mutex> lock(im.mu);
        auto& n = im.nodes[i];
        if (!n.trainer() && !n.exited) {
          n.stop_sent = true;
          send = true;
        }
      }
      if (send) {
        Status st = im.rs->SendStop(static_cast<int>(i));
        if (!st.ok()) LogWarning("STOP to " + im.nodes[i].label + ": " + st.message());
      }
    }
    // Nodes exit on their own once done or stopped.
    if (!im.launcher->WaitAll(std::chrono::seconds(30)) && im.CurrentFailure().ok()) {
      std::string left;
      {
        std::lock_guard<std::mutex> lock(im.mu);
        for (auto& n : im.nodes)
          if (!n.exited) left += (left.empty() ? "" : ", ") + n.label + " (" + n.state + ")";
      }
      im.Fail(Timeout("nodes still running 30 s after STOP: " + left + "; killed them"));
    }
  }
  Status failure = im.CurrentFailure();
  if (!failure.ok()) im.launcher->WaitAll(im.opts.kill_grace + std::chrono::seconds(2));
  im.KillAndReap();
  im.shut_down = true;
  im.monitor_stop = true;
  if (im.monitor.joinable()) im.monitor.join();
  im.rs->Stop();
  ConsoleStatus("");
  if (failure.ok()) LogInfo("all " + std::to_string(im.nodes.size()) + " nodes finished");
  return failure;
}

std::string Cluster::tensorboard_url() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->urls.find("TensorBoard");
  return it == impl_->urls.end() ? "" : it->second;
}

std::map<std::string, std::string> Cluster::urls() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->urls;
}

Status Cluster::status() const { return impl_->CurrentFailure(); }

void Cluster::Abort(const Status& why) { impl_->Fail(why.ok() ? Aborted("aborted") : why); }

std::vector<Cluster::NodeInfo> Cluster::nodes() const {
  std::vector<NodeInfo> out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& [id, reg] : impl_->regs) {
    if (id < 0 || id >= static_cast<int>(impl_->nodes.size())) continue;
    const NodeRecord& n = impl_->nodes[id];
    out.push_back({id, n.role, reg.host, reg.port, reg.feed_port, n.done || n.exited});
  }
  return out;
}

}  // namespace tos
