#include <unistd.h>

#include "net/socket.h"
#include "node/node_state.h"
#include "reservation/client.h"

namespace tos {
namespace {
// Reaching the driver's store is quick when it is up; a driver that does not answer this long
// is gone.
constexpr std::chrono::seconds kBarrierConnectTimeout{30};
}  // namespace

ReservedPort::~ReservedPort() { Release(); }

int ReservedPort::TakeFd() {
  int f = fd_;
  fd_ = -1;
  return f;
}

void ReservedPort::Release() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::string ResolvePath(const std::string& path, const std::string& default_fs,
                        const std::string& working_dir, const std::string& user) {
  if (path.find("://") != std::string::npos) return path;
  std::string fs = default_fs;
  while (!fs.empty() && fs.back() == '/') fs.pop_back();
  if (fs.rfind("hdfs://", 0) == 0 || fs.rfind("viewfs://", 0) == 0) {
    if (!path.empty() && path[0] == '/') return fs + path;
    return fs + "/user/" + user + "/" + path;
  }
  if (!path.empty() && path[0] == '/') return "file://" + path;
  std::string wd = working_dir;
  while (wd.size() > 1 && wd.back() == '/') wd.pop_back();
  return "file://" + wd + "/" + path;
}

Context::Context(std::shared_ptr<State> state) : state_(std::move(state)) {}
Context::~Context() = default;

int Context::executor_id() const { return state_->executor_id; }
const std::string& Context::job_name() const { return state_->job_name; }
int Context::task_index() const { return state_->task_index; }
const ClusterSpec& Context::cluster_spec() const { return state_->cluster; }
int Context::num_executors() const { return state_->num_executors; }

int Context::num_workers() const {
  int n = 0;
  for (const char* job : {"chief", "worker"}) {
    auto it = state_->cluster.find(job);
    if (it != state_->cluster.end()) n += static_cast<int>(it->second.size());
  }
  return n;
}

int Context::worker_index() const {
  bool has_chief = state_->cluster.count("chief") > 0;
  if (state_->job_name == "chief") return 0;
  if (state_->job_name == "worker") return state_->task_index + (has_chief ? 1 : 0);
  return -1;
}

bool Context::is_chief() const {
  if (state_->job_name == "chief") return true;
  return state_->job_name == "worker" && state_->task_index == 0 &&
         state_->cluster.count("chief") == 0;
}

InputMode Context::input_mode() const { return state_->input_mode; }
const std::string& Context::default_fs() const { return state_->default_fs; }
const std::string& Context::working_dir() const { return state_->working_dir; }
const std::string& Context::log_dir() const { return state_->log_dir; }
int Context::threads() const { return state_->threads; }

std::string Context::absolute_path(const std::string& path) const {
  return ResolvePath(path, state_->default_fs, state_->working_dir, state_->user);
}

ReservedPort& Context::reserved_port() { return *state_->reserved; }

DataFeed& Context::data_feed(const std::string& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto& f = state_->data_feeds[name];
  if (!f) f = std::make_unique<DataFeed>(state_->feeds->Get(name));
  return *f;
}

bool Context::WaitForStop(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->stop_cv.wait_for(lock, timeout, [&] { return state_->stop; });
}

bool Context::stop_requested() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stop;
}

void Context::SetStatus(const std::string& what) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->status = what;
}

void Context::ReportProgress(uint64_t units) { state_->progress += units; }

void Context::WaitForTrainers(const std::string& name, std::chrono::milliseconds timeout) {
  const int trainers = num_workers();
  if (worker_index() < 0) {
    throw Error(InvalidArgument("WaitForTrainers('" + name + "') called on " + job_name() + ":" +
                                std::to_string(task_index()) +
                                ": only the chief and the workers take part in it"));
  }
  auto addr = net::ParseHostPort(state_->reservation_address);
  ThrowIfError(addr.status());
  const auto deadline = net::After(timeout);
  auto kv = ValueOrThrow(
      reservation::KvClient::Connect(*addr, state_->secret, net::After(kBarrierConnectTimeout)));
  const std::string key = "tos/barrier/" + name;
  SetStatus("waiting for all trainers to reach '" + name + "'");
  int64_t arrived = ValueOrThrow(kv->Add(key + "/arrived", 1));
  if (arrived == trainers) {
    ThrowIfError(kv->Set(key + "/open", "1"));
    return;
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - net::Clock::now());
  auto open = kv->Get(key + "/open", std::max(left, std::chrono::milliseconds(0)));
  if (open.ok()) return;
  if (open.status().code() != StatusCode::kTimeout) throw Error(open.status());
  int64_t now_arrived = ValueOrThrow(kv->Add(key + "/arrived", 0));
  throw Error(Timeout("waited " + std::to_string(timeout.count() / 1000) +
                      " s for all trainers to reach '" + name +
                      "': " + std::to_string(now_arrived) + " of " + std::to_string(trainers) +
                      " arrived; every trainer must call WaitForTrainers('" + name +
                      "') once after its last update"));
}

std::string Context::reservation_address() const { return state_->reservation_address; }
const std::string& Context::secret() const { return state_->secret; }

void Context::ReportUrl(const std::string& name, const std::string& url) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->urls[name] = url;
}

}  // namespace tos
