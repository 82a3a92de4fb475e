// The driver's view of its nodes: events from the reservation server (registration,
// heartbeats, errors, completion, lost connections) and the launcher (exits), the once-a-
// tick liveness checks that turn silence, stalls and errors into warnings or the job's
// failure, and the handling of SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/cluster_impl.h"
#include "tos/log.h"
#include "util/console.h"

namespace tos {

using reservation::NodeEvent;

std::atomic<int> g_signal{0};
std::atomic<int> g_signal_count{0};

void OnSignal(int sig) {
  g_signal = sig;
  g_signal_count++;
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

// Requires mu held.
std::string Cluster::Impl::Where(int id) const {
  auto it = regs.find(id);
  return it == regs.end() ? std::string("(unregistered)") : it->second.host;
}

// Requires mu held.
std::string Cluster::Impl::Report(int id, const std::string& what) {
  const NodeRecord& n = nodes[id];
  std::string r = n.label + " on " + Where(id) + " " + what;
  if (!n.error_message.empty()) r += ": " + n.error_message;
  auto lines = launcher->LastLines(id);
  if (lines.empty()) {
    // A node started by a Spark executor: its log lies on that executor's host.
    auto reg = regs.find(id);
    if (reg != regs.end() && !reg->second.log.empty())
      r += "\n  its log: " + reg->second.log + " on " + reg->second.host;
  }
  if (!lines.empty()) {
    r += "\n  last lines of " + launcher->LogPath(id) + ":";
    size_t from = lines.size() > 10 ? lines.size() - 10 : 0;
    for (size_t i = from; i < lines.size(); ++i) r += "\n    " + lines[i];
  }
  return r;
}

// First failure wins. Requires mu NOT held.
void Cluster::Impl::Fail(const Status& st) {
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

void Cluster::Impl::OnEvent(const NodeEvent& e) {
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

void Cluster::Impl::RecordEvent(const NodeEvent& e) {
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
              ConsoleLine(k + " at " + url + " (on " + n.label + ")");
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

void Cluster::Impl::OnExit(const ExecutorExit& ex) {
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

void Cluster::Impl::MonitorTick() {
  std::vector<Status> failures;
  std::vector<std::string> warnings;
  bool do_kill = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto now = Clock::now();
    CheckNodes(now, &failures, &warnings);
    if (!failure.ok() && !killed && now >= kill_at) {
      killed = true;
      do_kill = true;
    }
    UpdateFeedStatus(now);
  }
  for (auto& w : warnings) LogWarning(w);
  for (auto& f : failures) Fail(f);
  if (do_kill) launcher->SignalAll(SIGKILL);
  HandleSignal();
}

void Cluster::Impl::CheckNodes(Clock::time_point now, std::vector<Status>* failures,
                               std::vector<std::string>* warnings) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  auto secs = [](Clock::duration d) { return std::to_string(duration_cast<seconds>(d).count()); };
  // The driver itself was paused (stopped, swapping): the nodes' heartbeats wait unread in
  // its sockets, so their silence is the driver's, not theirs. Start their clocks again.
  const bool driver_paused =
      last_tick != Clock::time_point{} && now - last_tick > kDriverPauseThreshold;
  last_tick = now;
  // A warning about a quiet node comes well before node_timeout fails it.
  const auto quiet = std::min<std::chrono::milliseconds>(
      std::max<std::chrono::milliseconds>(kQuietNodeWarning, opts.heartbeat_interval * 10),
      opts.node_timeout / 2);
  for (size_t i = 0; i < nodes.size(); ++i) {
    NodeRecord& n = nodes[i];
    const int id = static_cast<int>(i);
    if (driver_paused) n.last_heartbeat = std::max(n.last_heartbeat, now - kAfterDriverPause);
    // An error report is followed by the node's exit; give the exit (status, log) a moment.
    if (!n.error_message.empty() && !n.exited && now - n.error_at > kErrorReportGrace &&
        failure.ok()) {
      failures->push_back(Aborted(Report(id, "failed")));
    }
    if (n.disconnected && !n.exited && !n.done && !n.stop_sent &&
        now - n.disconnected_at > kLostConnectionGrace && failure.ok()) {
      failures->push_back(Unavailable(
          Report(id, "lost its connection to the driver (node died or network failed)")));
    }
    if (!n.registered || n.done || n.exited || n.disconnected) continue;
    if (n.trainer() && !n.stall_warned && now - n.last_progress > opts.stall_warning) {
      n.stall_warned = true;
      warnings->push_back(n.label + " made no progress for " + secs(now - n.last_progress) +
                          " s; it is: " + n.state);
    }
    if (now - n.last_heartbeat > opts.node_timeout && failure.ok()) {
      failures->push_back(Unavailable(
          Report(id, "sent no heartbeat for " + secs(now - n.last_heartbeat) + " s (node_timeout " +
                         std::to_string(opts.node_timeout.count()) + " s; last state: " + n.state +
                         "): the process is stopped or frozen, or its host is unreachable. If "
                         "pauses this long are "
                         "expected, raise node_timeout (--node_timeout)")));
      continue;
    }
    if (!n.silence_warned && now - n.last_heartbeat > quiet) {
      n.silence_warned = true;
      warnings->push_back("no heartbeat from " + n.label + " for " + secs(now - n.last_heartbeat) +
                          " s (last state: " + n.state +
                          "); is the process stopped or overloaded?");
    }
  }
}

void Cluster::Impl::UpdateFeedStatus(Clock::time_point now) {
  if (!progress || !failure.ok()) return;
  const double secs = std::chrono::duration<double>(now - last_rate_at).count();
  if (secs < 1.0) return;  // one status line a second
  uint64_t records = 0;
  int terminated = 0;
  int epoch = 0;
  for (auto& p : *progress) {
    records += p.records_sent;
    terminated += p.terminated ? 1 : 0;
    epoch = std::max(epoch, p.epoch.load() + 1);
  }
  const double rate = static_cast<double>(records - last_records) / secs;
  last_records = records;
  last_rate_at = now;
  ConsoleStatus("feed '" + progress_name + "': epoch " + std::to_string(epoch) + ", " +
                FormatCount(static_cast<double>(records)) + " records fed, " + FormatCount(rate) +
                " records/s" +
                (terminated ? ", " + std::to_string(terminated) + " terminated" : ""));
}

void Cluster::Impl::HandleSignal() {
  const int sig = g_signal.load();
  if (sig == 0) return;
  if (g_signal_count > 1) {  // a second signal before this tick: exit at once
    launcher->SignalAll(SIGKILL);
    ::_exit(128 + sig);
  }
  Fail(Aborted(std::string("interrupted by signal ") + std::to_string(sig) +
               "; stopping every node"));
  launcher->SignalAll(SIGTERM);
  if (!launcher->WaitAll(opts.kill_grace)) launcher->SignalAll(SIGKILL);
  launcher->WaitAll(kReapAfterInterrupt);
  ConsoleStatus("");
  LogError("interrupted; all nodes stopped");
  ExitInterrupted(sig);
}

// An interrupted driver exits from this (the monitor) thread: the main thread is in user
// code and may be blocked anywhere. The threads the cluster owns are stopped and joined
// first, so none is left running or finished-but-unjoined when the process ends. The other
// objects stay alive (the main thread may still hold them) until _exit.
[[noreturn]] void Cluster::Impl::ExitInterrupted(int sig) {
  launcher->Stop();
  if (rs) rs->Stop();
  std::fflush(nullptr);
  ::_exit(128 + sig);
}

void Cluster::Impl::MonitorLoop() {
  while (!monitor_stop) {
    MonitorTick();
    std::this_thread::sleep_for(kMonitorInterval);
  }
}

Status Cluster::Impl::CurrentFailure() const {
  std::lock_guard<std::mutex> lock(mu);
  return failure;
}

void Cluster::Impl::KillAndReap() {
  launcher->SignalAll(SIGKILL);
  launcher->WaitAll(kReapAfterKill);
}

}  // namespace tos
