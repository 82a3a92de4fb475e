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

#include "cluster/cluster_impl.h"
#include "cluster/gpus.h"
#include "feed/feeder.h"
#include "net/auth.h"
#include "node/node_env.h"
#include "reservation/server.h"
#include "tos/fs.h"
#include "tos/log.h"
#include "tos/partitioned_dir.h"
#include "tos/tos.h"
#include "util/console.h"
#include "util/cpu.h"

namespace tos {
namespace {

using reservation::NodeEvent;

// How long `nvidia-smi -L` may take to list the GPUs for gpus_per_node (a hung driver must not
// hang the job's start).
constexpr auto kGpuQueryTimeout = std::chrono::seconds(10);

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

// Fills in what the options leave to the environment or to defaults, and checks them.
Status ResolveOptions(ClusterOptions* opts, bool local) {
  opts->server_port = EnvOr(opts->server_port, "TOS_SERVER_PORT");
  opts->server_host = EnvOr(opts->server_host, "TOS_SERVER_HOST");
  opts->node_port = EnvOr(opts->node_port, "TOS_NODE_PORT");
  opts->feed_port = EnvOr(opts->feed_port, "TOS_FEED_PORT");
  if (const char* v = std::getenv("TOS_GPUS_PER_NODE"); opts->gpus_per_node == 0 && v && *v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n < 0 || n > 4096) {
      return InvalidArgument(
          "TOS_GPUS_PER_NODE must be a number of GPUs per node (0 or more), not '" +
          std::string(v) + "'");
    }
    opts->gpus_per_node = static_cast<int>(n);
  }
  if (opts->gpus_per_node < 0) {
    return InvalidArgument("gpus_per_node must be 0 or more, not " +
                           std::to_string(opts->gpus_per_node));
  }
  if (opts->server_host.empty()) opts->server_host = local ? "127.0.0.1" : net::AdvertisedHost();
  if (opts->program.empty()) {
    char self[PATH_MAX] = {0};
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) return Internal("cannot find this program's path (/proc/self/exe)");
    opts->program = std::string(self, static_cast<size_t>(n));
  }
  if (opts->node_args.empty()) opts->node_args = ProgramArgs();
  opts->log_dir = AbsolutePath(opts->log_dir);
  if (opts->node_timeout < kMinNodeTimeout || opts->node_timeout < 3 * opts->heartbeat_interval) {
    return InvalidArgument("node_timeout (" + std::to_string(opts->node_timeout.count()) +
                           " s) must be at least 2 s and three heartbeat intervals");
  }
  return Status::OK();
}

// What every node is started with: the program, its arguments and environment, log names.
// gpus: each executor's CUDA_VISIBLE_DEVICES (gpus_per_node), or empty to leave it as it is.
LaunchSpec NodeLaunchSpec(const ClusterOptions& opts, const RoleLayout& layout,
                          const std::string& reservation, const std::string& secret, bool local,
                          const std::vector<std::string>& gpus) {
  LaunchSpec ls;
  ls.num_executors = opts.num_executors;
  ls.argv.push_back(opts.program);
  for (auto& a : opts.node_args) ls.argv.push_back(a);
  ls.log_dir = opts.log_dir;
  ls.echo_output = opts.echo_node_output;
  NodeEnv ne;
  ne.reservation = reservation;
  ne.secret = secret;
  ne.num_executors = opts.num_executors;
  ne.log_dir = opts.log_dir;
  // Nodes resolve relative paths (Context::absolute_path) against the driver's fs.defaultFS.
  if (Result<std::string> fs = DefaultFs(); fs.ok()) ne.default_fs = *fs;
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
  for (const char* v : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"})
    ls.env[v] = threads;
  // OpenBLAS reads its kernel choice when it loads: name it for the nodes unless the user did.
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    std::string core = OpenBlasCoreTypeForThisCpu();
    if (!core.empty()) ls.env["OPENBLAS_CORETYPE"] = core;
  }
  for (auto& [k, v] : opts.node_env) ls.env[k] = v;
  ls.executor_env = [gpus](int id) {
    std::map<std::string, std::string> env{{"TOS_EXECUTOR_ID", std::to_string(id)}};
    if (static_cast<size_t>(id) < gpus.size()) env["CUDA_VISIBLE_DEVICES"] = gpus[id];
    return env;
  };
  ls.executor_name = [layout](int id) {
    auto r = RoleFor(layout, id);
    return r.job_name + "-" + std::to_string(r.task_index);
  };
  return ls;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

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
  // All on this host's loopback: the local launcher, unless $TOS_NODE_WRAPPER may start the
  // nodes elsewhere (then they and the driver use routable addresses, as with any launcher).
  const char* wrapper = std::getenv("TOS_NODE_WRAPPER");
  const bool own_launcher = !opts.launcher;
  const bool local = own_launcher && (wrapper == nullptr || *wrapper == '\0');
  impl->launcher = own_launcher ? std::shared_ptr<Launcher>(MakeLocalLauncher()) : opts.launcher;
  TOS_RETURN_IF_ERROR(ResolveOptions(&opts, local));
  // GPUs are dealt before anything starts, so that too few of them fail the job at once.
  std::vector<std::string> gpus;
  if (opts.gpus_per_node > 0 && !own_launcher) {
    LogWarning(
        "gpus_per_node is for nodes this driver starts itself; here the launcher's owner "
        "gives the GPUs (on Spark: spark.task.resource.gpu.amount)");
  } else if (opts.gpus_per_node > 0) {
    TOS_ASSIGN_OR_RETURN(
        gpus, DealGpus(impl->layout, opts.gpus_per_node, FindVisibleGpus(kGpuQueryTimeout)));
    std::string dealt;
    for (int i = 0; i < opts.num_executors; ++i) {
      dealt += (i ? ", " : "") + RoleLabel(RoleFor(impl->layout, i)) + " " +
               (gpus[i].empty() ? "none" : gpus[i]);
    }
    LogInfo("GPUs of the nodes (CUDA_VISIBLE_DEVICES): " + dealt);
  }
  net::SetDefaultPeerTimeout(opts.node_timeout);
  impl->opts = opts;
  impl->nodes.resize(opts.num_executors);
  for (int i = 0; i < opts.num_executors; ++i) {
    impl->nodes[i].role = RoleFor(impl->layout, i);
    impl->nodes[i].label = RoleLabel(impl->nodes[i].role) + " (executor " + std::to_string(i) + ")";
  }

  // 1. The reservation server, whose events drive the cluster's state.
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
  InstallSignalHandlers();

  // 2. The nodes, and the monitor that watches them.
  LaunchSpec ls =
      NodeLaunchSpec(opts, impl->layout, impl->rs->address().ToString(), impl->secret, local, gpus);
  Status launched = impl->launcher->Launch(ls, [raw](const ExecutorExit& ex) { raw->OnExit(ex); });
  if (!launched.ok()) {
    impl->KillAndReap();
    return launched.WithContext("launching " + std::to_string(opts.num_executors) + " nodes");
  }
  impl->monitor = std::thread([raw] { raw->MonitorLoop(); });
  std::unique_ptr<Cluster> cluster(new Cluster(std::move(impl)));

  // 3. Every node registered, or the job fails naming the missing ones.
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
  LogInfo("all " + std::to_string(opts.num_executors) +
          " nodes registered: " + ClusterSpecToJson(raw->spec));
  return cluster;
}

const ClusterSpec& Cluster::cluster_spec() const { return impl_->spec; }

Status Cluster::Train(const RecordSource& data, int epochs, const std::string& feed) {
  return TrainFeeds({{feed, &data, epochs}});
}

Status Cluster::TrainFeeds(const std::vector<NamedFeed>& feeds) {
  if (impl_->opts.input_mode == InputMode::kTensorflow) {
    LogWarning(
        "Train() in InputMode::kTensorflow: feeding anyway (nodes read feeds only if they ask)");
  }
  return impl_->RunFeeds(feeds, feed::FeedMode::kTrain, "");
}

Status Cluster::Inference(const RecordSource& data, const std::string& output_dir,
                          const std::string& feed, bool overwrite) {
  TOS_ASSIGN_OR_RETURN(bool holds, HoldsDataset(output_dir));
  if (holds && !overwrite) {
    return AlreadyExists("output directory " + output_dir +
                         " already holds a dataset; remove it or overwrite");
  }
  if (holds) TOS_RETURN_IF_ERROR(RemoveDataset(output_dir));
  return impl_->RunFeeds({{feed, &data, 1}}, feed::FeedMode::kInference, output_dir);
}

Status Cluster::Shutdown(std::chrono::seconds grace, std::chrono::seconds timeout) {
  Impl& im = *impl_;
  im.WaitForTrainers(timeout);
  if (im.CurrentFailure().ok() && grace.count() > 0) {
    std::unique_lock<std::mutex> lock(im.mu);
    im.cv.wait_for(lock, grace, [&] { return !im.failure.ok(); });
  }
  if (im.CurrentFailure().ok()) im.StopTheOthers();
  Status failure = im.CurrentFailure();
  if (!failure.ok()) im.launcher->WaitAll(im.opts.kill_grace + kFailureExitMargin);
  im.KillAndReap();
  im.shut_down = true;
  im.monitor_stop = true;
  if (im.monitor.joinable()) im.monitor.join();
  im.rs->Stop();
  ConsoleStatus("");
  if (failure.ok()) LogInfo("all " + std::to_string(im.nodes.size()) + " nodes finished");
  return failure;
}

void Cluster::Impl::WaitForTrainers(std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto trainers_finished = [&] {
    for (auto& n : nodes)
      if (n.trainer() && !n.done && !(n.exited && n.exit.ok())) return false;
    return true;
  };
  std::unique_lock<std::mutex> lock(mu);
  while (failure.ok() && !trainers_finished()) {
    if (cv.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  if (failure.ok() && !trainers_finished()) {
    std::string running;
    for (auto& n : nodes)
      if (n.trainer() && !n.done && !n.exited)
        running += (running.empty() ? "" : ", ") + n.label + " (" + n.state + ")";
    lock.unlock();
    Fail(Timeout("application timeout after " + std::to_string(timeout.count()) +
                 " s; still running: " + running));
  }
}

void Cluster::Impl::StopTheOthers() {
  for (size_t i = 0; i < nodes.size(); ++i) {
    bool send = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto& n = nodes[i];
      if (!n.trainer() && !n.exited) {
        n.stop_sent = true;
        send = true;
      }
    }
    if (send) {
      Status st = rs->SendStop(static_cast<int>(i));
      if (!st.ok()) LogWarning("STOP to " + nodes[i].label + ": " + st.message());
    }
  }
  // Nodes exit on their own once done or stopped.
  if (!launcher->WaitAll(kExitAfterStop) && CurrentFailure().ok()) {
    std::string left;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& n : nodes)
        if (!n.exited) left += (left.empty() ? "" : ", ") + n.label + " (" + n.state + ")";
    }
    Fail(Timeout("nodes still running " + std::to_string(kExitAfterStop.count()) +
                 " s after STOP: " + left + "; killed them"));
  }
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
