// The driver's cluster state (Cluster::Impl), shared by the files that implement it:
//   cluster.cc        Cluster::Run (options, reservation server, launch, registration), Shutdown
//   node_monitor.cc   node events, liveness checks, failure reports, interrupts
//   cluster_feeds.cc  feeding the trainers (Train, Inference)
// Private to src/cluster.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "feed/feeder.h"
#include "net/cancel.h"
#include "reservation/server.h"
#include "tos/cluster.h"

namespace tos {

using Clock = std::chrono::steady_clock;

// The driver's own timings (the user's are in ClusterOptions).
constexpr auto kMonitorInterval = std::chrono::milliseconds(100);  // liveness checks
// A monitor tick this late means the driver itself was paused (stopped, swapped out).
constexpr auto kDriverPauseThreshold = std::chrono::seconds(2);
// A node that reported an error is failed this long after it, if it has not exited by then
// (its exit status and log lines make the better report).
constexpr auto kErrorReportGrace = std::chrono::seconds(1);
// A node's control connection closed without NODE_DONE: it has this long to be seen exiting.
constexpr auto kLostConnectionGrace = std::chrono::seconds(2);
// After STOP, ps and evaluator nodes have this long to exit.
constexpr auto kExitAfterStop = std::chrono::seconds(30);
// The first "no heartbeat from" warning (at most half of node_timeout).
constexpr auto kQuietNodeWarning = std::chrono::seconds(15);

// After a driver pause, each node's heartbeat clock restarts as if heard from this long ago.
constexpr auto kAfterDriverPause = std::chrono::seconds(1);
// A feed broken by a node's death waits this long for the node's own report, which names
// its exit status and log lines (better than "connection reset").
constexpr auto kNodeReportWait = std::chrono::seconds(3);
// After a failure, the nodes' SIGTERM handlers have kill_grace and this margin to exit.
constexpr auto kFailureExitMargin = std::chrono::seconds(2);
// Reaping after SIGKILL: on an interrupt, and in the final cleanup.
constexpr auto kReapAfterInterrupt = std::chrono::seconds(5);
constexpr auto kReapAfterKill = std::chrono::seconds(10);
// The shortest node_timeout accepted: a shorter one fails healthy nodes on a loaded host.
constexpr auto kMinNodeTimeout = std::chrono::seconds(2);

// What the driver knows about one node, from its events and its process.
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

// SIGINT/SIGTERM: recorded by the handler, acted on by the monitor thread.
extern std::atomic<int> g_signal;
extern std::atomic<int> g_signal_count;
void OnSignal(int sig);

// 1234567 -> "1.23M", 1234 -> "1.2k".
std::string FormatCount(double v);

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
  std::string Where(int id) const;

  // Requires mu held.
  std::string Report(int id, const std::string& what);

  // First failure wins. Requires mu NOT held.
  void Fail(const Status& st);

  void OnEvent(const reservation::NodeEvent& e);

  void RecordEvent(const reservation::NodeEvent& e);

  void OnExit(const ExecutorExit& ex);

  // Once every kMonitorInterval: CheckNodes, the SIGKILL after a failure's kill_grace, the
  // feed status line, an interrupt.
  void MonitorTick();
  // Shutdown's steps: every trainer finished (or the timeout fails the job); then STOP to the
  // ps and evaluator nodes and their exits.
  void WaitForTrainers(std::chrono::seconds timeout);
  void StopTheOthers();
  // Requires mu held. Liveness of every node at `now`: failures for the job, warnings to log.
  void CheckNodes(Clock::time_point now, std::vector<Status>* failures,
                  std::vector<std::string>* warnings);
  // Requires mu held. The console's status line of the running feed, once a second.
  void UpdateFeedStatus(Clock::time_point now);
  // SIGINT/SIGTERM seen by the handler: stop every node and exit 128 + signal.
  void HandleSignal();

  // An interrupted driver exits from this (the monitor) thread: the main thread is in user
  // code and may be blocked anywhere. The threads the cluster owns are stopped and joined
  // first, so none is left running or finished-but-unjoined when the process ends. The other
  // objects stay alive (the main thread may still hold them) until _exit.
  [[noreturn]] void ExitInterrupted(int sig);

  void MonitorLoop();

  Status CurrentFailure() const;

  void KillAndReap();

  // The trainers (chief first, then workers by index) and their feed addresses.
  std::vector<feed::FeedTarget> Trainers() const;

  Status RunFeeds(const std::vector<Cluster::NamedFeed>& feeds, feed::FeedMode mode,
                  const std::string& output_dir);
};

}  // namespace tos
