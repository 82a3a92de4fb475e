// Driver service: the cluster driver (reservation server, roles, fail-fast monitor, feed
// ends, shutdown) run for the Python package on the Spark driver. Protocol: docs/spark.md.
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "feed/feeder.h"
#include "reservation/client.h"
#include "spark/bridge.h"
#include "tos/cluster.h"
#include "tos/log.h"

namespace tos::spark {
namespace {

// Connecting to the driver's own store, on this host.
constexpr auto kStoreConnectTimeout = std::chrono::seconds(10);
// How often the service looks for news (node progress, URLs) to emit to the Python side.
constexpr auto kEventPollInterval = std::chrono::milliseconds(100);
// Shutdown's timeout when the command gives none: Cluster::Shutdown's default.
constexpr std::chrono::seconds kDefaultShutdownTimeout = std::chrono::hours(72);

using nlohmann::json;

std::mutex g_out_mu;

void Emit(const json& event) {
  std::string line = event.dump() + "\n";
  std::lock_guard<std::mutex> lock(g_out_mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

[[noreturn]] void Exit(int code) {
  std::fflush(nullptr);
  ::_exit(code);
}

std::string NodeLabel(const Cluster::NodeInfo& n) {
  return RoleLabel(n.role) + " (executor " + std::to_string(n.executor_id) + ")";
}

bool IsTrainer(const Cluster::NodeInfo& n) {
  return n.role.job_name == "chief" || n.role.job_name == "worker";
}

Result<ClusterOptions> ParseOptions(const std::string& text) {
  ClusterOptions o;
  try {
    json j = json::parse(text);
    o.num_executors = j.value("num_executors", 1);
    o.num_ps = j.value("num_ps", 0);
    o.master_node = j.value("master_node", false);
    o.eval_node = j.value("eval_node", false);
    std::string mode = j.value("input_mode", "spark");
    if (mode != "spark" && mode != "tensorflow")
      return InvalidArgument("input_mode must be spark or tensorflow, not " + mode);
    o.input_mode = mode == "tensorflow" ? InputMode::kTensorflow : InputMode::kSpark;
    o.tensorboard = j.value("tensorboard", false);
    o.log_dir = j.value("log_dir", o.log_dir);
    o.reservation_timeout =
        std::chrono::seconds(j.value("reservation_timeout", o.reservation_timeout.count()));
    o.feed_timeout = std::chrono::seconds(j.value("feed_timeout", o.feed_timeout.count()));
    o.node_timeout = std::chrono::seconds(j.value("node_timeout", o.node_timeout.count()));
    o.threads_per_node = j.value("threads_per_node", 1);
    o.server_host = j.value("server_host", "");
    o.server_port = j.value("server_port", "");
    o.node_port = j.value("node_port", "");
    o.feed_port = j.value("feed_port", "");
    if (j.contains("node_env")) {
      for (auto& [k, v] : j["node_env"].items()) o.node_env[k] = v.get<std::string>();
    }
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("TOS_DRIVER_SERVICE is not valid JSON options: ") +
                           e.what());
  }
  return o;
}

// Ends feed `name` on every trainer that is still running: one FEED_END each, through the
// same sender code the local driver uses (an empty data source).
Status EndFeed(Cluster& cluster, const std::string& secret, const std::string& name,
               std::chrono::seconds timeout) {
  std::vector<feed::FeedTarget> targets;
  for (auto& n : cluster.nodes()) {
    if (!IsTrainer(n) || n.finished) continue;
    targets.push_back({n.executor_id, NodeLabel(n), {n.host, n.feed_port}});
  }
  VectorRecordSource empty({});
  std::vector<Status> results(targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i) {
    threads.emplace_back([&, i] {
      feed::FeedJob job;
      job.secret = secret;
      job.feed_name = name;
      job.sender = "spark driver";
      job.feed_timeout = timeout;
      results[i] = feed::RunFeed(empty, {targets[i]}, job);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < targets.size(); ++i) {
    if (results[i].ok()) continue;
    bool finished = false;
    for (auto& n : cluster.nodes())
      if (n.executor_id == targets[i].executor_id) finished = n.finished;
    if (!finished) return results[i].WithContext("ending feed '" + name + "'");
  }
  return Status::OK();
}

struct Commands {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<json> queue;
  std::atomic<Cluster*> cluster{nullptr};
  std::atomic<bool> shutting_down{false};  // a shutdown command arrived: EOF is expected
};

void ReadCommands(Commands* c) {
  std::string line;
  auto abort = [c](const std::string& why) {
    if (Cluster* cl = c->cluster.load()) {
      cl->Abort(Aborted(why));
    } else {
      Emit({{"event", "failed"}, {"message", why}});
      Exit(1);
    }
  };
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json cmd;
    try {
      cmd = json::parse(line);
    } catch (const std::exception& e) {
      LogWarning(std::string("driver service: ignoring a malformed command: ") + e.what());
      continue;
    }
    if (cmd.value("cmd", "") == "abort") abort(cmd.value("message", "aborted by the Spark driver"));
    if (cmd.value("cmd", "") == "shutdown") c->shutting_down = true;
    std::lock_guard<std::mutex> lock(c->mu);
    c->queue.push_back(std::move(cmd));
    c->cv.notify_all();
  }
  if (c->shutting_down) return;
  abort("the Spark driver closed the driver service's input (the application ended)");
  std::lock_guard<std::mutex> lock(c->mu);
  c->queue.push_back({{"cmd", "abort"}});
  c->cv.notify_all();
}

// Reports the first failure and new URLs as soon as the cluster knows them. Feed clients in
// Spark tasks read two keys of the reservation server's store (docs/spark.md): a finished
// trainer's partitions are skipped, and a failed job's message explains a broken feed.
void WatchStatus(Cluster* cluster, const std::string& reservation, const std::string& secret,
                 std::atomic<bool>* stop) {
  bool failed = false;
  std::map<std::string, std::string> reported;  // the urls already sent, by name
  std::set<int> finished;
  std::unique_ptr<reservation::KvClient> kv;
  if (auto addr = net::ParseHostPort(reservation); addr.ok()) {
    auto c = reservation::KvClient::Connect(*addr, secret, net::After(kStoreConnectTimeout));
    if (c.ok())
      kv = std::move(c).value();
    else
      LogWarning("driver service: no connection to the store: " + c.status().message());
  }
  while (!*stop) {
    Status st = cluster->status();
    if (!st.ok() && !failed) {
      failed = true;
      // For nodes that poll the store; the failure also reaches them as JOB_ERROR and the
      // Spark driver through the event below.
      if (kv) (void)kv->Set("tos/job_failure", st.message());
      Emit({{"event", "failed"}, {"message", st.message()}, {"code", StatusCodeName(st.code())}});
    }
    for (auto& n : cluster->nodes()) {
      if (n.finished && finished.insert(n.executor_id).second && kv) {
        // Best effort: a missing mark only makes WaitForTrainers wait for the node's exit.
        (void)kv->Set("tos/finished/" + std::to_string(n.executor_id), "1");
      }
    }
    for (auto& [name, url] : cluster->urls()) {
      if (reported[name] == url) continue;
      reported[name] = url;
      Emit({{"event", "url"}, {"name", name}, {"url", url}});
    }
    std::this_thread::sleep_for(kEventPollInterval);
  }
}

}  // namespace

bool IsDriverService() { return std::getenv("TOS_DRIVER_SERVICE") != nullptr; }

int RunDriverService(const std::vector<std::string>& args) {
  SetLogTag("driver service");
  auto opts = ParseOptions(std::getenv("TOS_DRIVER_SERVICE"));
  const char* secret = std::getenv("TOS_SECRET");
  if (opts.ok() && (secret == nullptr || std::string(secret).size() < 16)) {
    opts = InvalidArgument("TOS_SECRET (the job secret, at least 16 characters) is not set");
  }
  if (!opts.ok()) {
    Emit({{"event", "failed"}, {"message", opts.status().message()}});
    return 1;
  }
  opts->secret = secret;
  opts->node_args = args;
  opts->echo_node_output = false;
  std::string reservation_address;
  opts->launcher = MakeExternalLauncher([&reservation_address](const LaunchSpec& spec) {
    auto it = spec.env.find("TOS_RESERVATION");
    if (it != spec.env.end()) reservation_address = it->second;
    json env = json::object();
    for (auto& [k, v] : spec.env)
      if (k != "TOS_SECRET") env[k] = v;
    json names = json::array();
    for (int i = 0; i < spec.num_executors; ++i)
      names.push_back(spec.executor_name ? spec.executor_name(i) : "");
    Emit({{"event", "launch"}, {"env", env}, {"names", names}});
  });

  Commands commands;
  std::thread reader([&] { ReadCommands(&commands); });
  reader.detach();

  auto cluster = Cluster::Run(*opts);
  if (!cluster.ok()) {
    Emit({{"event", "failed"},
          {"message", cluster.status().message()},
          {"code", StatusCodeName(cluster.status().code())}});
    Emit({{"event", "shutdown"}, {"ok", false}, {"message", cluster.status().message()}});
    Exit(1);
  }
  Cluster& c = **cluster;
  json nodes = json::array();
  for (auto& n : c.nodes()) {
    nodes.push_back({{"executor_id", n.executor_id},
                     {"job_name", n.role.job_name},
                     {"task_index", n.role.task_index},
                     {"host", n.host},
                     {"port", n.port},
                     {"feed_address", n.host + ":" + std::to_string(n.feed_port)},
                     {"trainer", IsTrainer(n)}});
  }
  json spec = json::parse(ClusterSpecToJson(c.cluster_spec()));
  Emit({{"event", "registered"}, {"cluster_spec", spec}, {"nodes", nodes}});
  commands.cluster = &c;

  std::atomic<bool> stop_watch{false};
  std::thread watcher([&] { WatchStatus(&c, reservation_address, opts->secret, &stop_watch); });
  Status final_status;
  for (;;) {
    json cmd;
    {
      std::unique_lock<std::mutex> lock(commands.mu);
      // Bounded by the Spark driver: its commands, or the EOF of its pipe when it ends (which
      // queues an abort); node failures meanwhile reach it through the status watcher.
      commands.cv.wait(lock, [&] { return !commands.queue.empty(); });
      cmd = std::move(commands.queue.front());
      commands.queue.pop_front();
    }
    std::string name = cmd.value("cmd", "");
    if (name == "end_feed") {
      Status st = c.status();
      auto timeout =
          std::chrono::seconds(cmd.value("timeout", static_cast<int>(opts->feed_timeout.count())));
      if (st.ok()) st = EndFeed(c, opts->secret, cmd.value("feed", "input"), timeout);
      Emit({{"event", "reply"},
            {"id", cmd.value("id", 0)},
            {"ok", st.ok()},
            {"message", st.message()}});
    } else if (name == "shutdown" || name == "abort") {
      auto grace = std::chrono::seconds(cmd.value("grace", 0));
      auto timeout = std::chrono::seconds(cmd.value("timeout", kDefaultShutdownTimeout.count()));
      if (name == "abort") grace = timeout = std::chrono::seconds::zero();
      final_status = c.Shutdown(grace, timeout);
      break;
    } else {
      Emit({{"event", "reply"},
            {"id", cmd.value("id", 0)},
            {"ok", false},
            {"message", "unknown command '" + name + "'"}});
    }
  }
  stop_watch = true;
  watcher.join();
  Emit({{"event", "shutdown"}, {"ok", final_status.ok()}, {"message", final_status.message()}});
  Exit(final_status.ok() ? 0 : 1);
}

}  // namespace tos::spark
