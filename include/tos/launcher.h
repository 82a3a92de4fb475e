// Starting executor processes: "start N executor processes with this environment, tell me
// when one dies". The local launcher (the embedded default) forks them on this machine; the
// Spark bridge starts them inside Spark executors instead and reports deaths through the
// control channel.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tos/status.h"

namespace tos {

struct LaunchSpec {
  int num_executors = 0;
  std::vector<std::string> argv;           // argv[0] is the program to run
  std::map<std::string, std::string> env;  // added to every executor's environment
  // Per-executor additions (TOS_EXECUTOR_ID, ...). Never put secrets on argv: use env.
  std::function<std::map<std::string, std::string>(int)> executor_env;
  // "worker-0": names the log file <log_dir>/<name>.log; the console prefix is "[worker:0]".
  std::function<std::string(int)> executor_name;
  std::string log_dir;
  bool echo_output = true;  // copy node output, prefixed, to the driver's stderr
};

struct ExecutorExit {
  int executor_id = -1;
  int exit_code = 0;  // valid when signal == 0
  int signal = 0;     // the signal that killed it, or 0
  bool ok() const { return signal == 0 && exit_code == 0; }
  std::string Describe() const;  // "exit status 1" / "killed by signal 9 (SIGKILL)"
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts executors 0..n-1. on_exit runs on a launcher thread when one exits. Must be called
  // from a thread that lives as long as the job (the main thread): children are tied to it.
  virtual Status Launch(const LaunchSpec& spec,
                        std::function<void(const ExecutorExit&)> on_exit) = 0;
  virtual void Signal(int executor_id, int signal) = 0;
  virtual void SignalAll(int signal) = 0;
  // True once every executor has exited and been reaped; false at the timeout.
  virtual bool WaitAll(std::chrono::milliseconds timeout) = 0;
  // The last lines an executor printed (for failure reports); empty if unknown.
  virtual std::vector<std::string> LastLines(int executor_id) const = 0;
  virtual std::string LogPath(int executor_id) const = 0;

  // For executors started by someone else (the Spark bridge), exits are learnt from the
  // control channel: the driver calls these when a node registered and when its channel
  // closed (finished: after NODE_DONE; failed: after it reported an error). Called on
  // reservation-server threads. Launchers that see their processes ignore them.
  virtual void NodeConnected(int executor_id) {}
  virtual void NodeDisconnected(int executor_id, bool finished, bool failed) {}

  // Kills what is still running and stops and joins the launcher's own threads; afterwards
  // no callback runs. Idempotent; the destructor does it too. For a driver that exits without
  // destroying its objects (an interrupted driver calls _exit from a cluster thread).
  virtual void Stop() {}
};

// Forks/execs executors on this machine. They die with the driver (PR_SET_PDEATHSIG) and
// their output goes to <log_dir>/<name>.log and, prefixed, to the driver's console. With
// $TOS_NODE_WRAPPER set, each executor is started through that program (argv: wrapper, program,
// args; TOS_EXECUTOR_ID in its environment), which must exec the rest: to pin nodes (numactl,
// taskset) or place them on network-namespace hosts (`ip netns exec`; bench/bench_hosts.py).
// The driver then listens on every address and advertises a routable one (TOS_SERVER_HOST, else
// this host's first non-loopback address), and the nodes advertise theirs.
std::unique_ptr<Launcher> MakeLocalLauncher();

// Starts nothing: Launch hands the spec (argv, environment, names) to on_launch, whose owner
// starts the executors (Spark tasks). A node counts as exited when its control channel
// closes: exit status 0 after NODE_DONE, 1 after an error report; a channel that drops
// without either is left to the driver's lost-connection check. Signal/SignalAll are no-ops:
// the driver's JOB_ERROR broadcast stops remote nodes.
std::unique_ptr<Launcher> MakeExternalLauncher(std::function<void(const LaunchSpec&)> on_launch);

}  // namespace tos
