#include "reservation/server.h"

#include <nlohmann/json.hpp>

#include "tos/log.h"

namespace tos::reservation {

using net::FrameType;

struct ReservationServer::Node {
  std::mutex write_mu;
  net::Socket* socket = nullptr;  // valid while the handler runs; guarded by write_mu
  std::string instance;
};

namespace {
constexpr std::chrono::seconds kWriteTimeout{10};  // one control frame to a node
constexpr size_t kMaxControlFrame = 1 << 20;
// A connection that authenticated must say REGISTER within this.
constexpr std::chrono::seconds kRegistrationTimeout{60};
// The control loop's read deadline is node_timeout plus this: the driver's monitor fails a
// silent node first, naming it; the deadline only frees the thread.
constexpr std::chrono::seconds kControlReadSlack{10};
}  // namespace

Result<std::unique_ptr<ReservationServer>> ReservationServer::Start(Options options) {
  TOS_RETURN_IF_ERROR(ValidateLayout(options.layout));
  std::unique_ptr<ReservationServer> rs(new ReservationServer());
  TOS_ASSIGN_OR_RETURN(auto range, net::ParsePortRange(options.port_spec));
  net::ListenOptions lo;
  lo.host = options.bind_host;
  TOS_ASSIGN_OR_RETURN(net::Socket listener, net::ListenInRange(lo, range.first, range.second));
  rs->address_.host =
      options.advertise_host.empty() ? net::AdvertisedHost() : options.advertise_host;
  rs->address_.port = listener.LocalPort();
  rs->options_ = std::move(options);
  net::AuthServer::Options so;
  so.name = "reservation server";
  so.secret = rs->options_.secret;
  auto* self = rs.get();
  TOS_ASSIGN_OR_RETURN(
      rs->server_,
      net::AuthServer::Start(std::move(listener), so, [self](net::Socket& s, net::Channel ch) {
        if (ch == net::Channel::kReservation) {
          self->HandleReservation(s);
        } else if (ch == net::Channel::kKvStore) {
          self->HandleKv(s);
        } else {
          LogWarning("reservation server: peer " + s.PeerAddress() +
                     " asked for the wrong channel");
        }
      }));
  rs->heartbeat_thread_ = std::thread([self] { self->HeartbeatLoop(); });
  return rs;
}

ReservationServer::~ReservationServer() { Stop(); }

void ReservationServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(kv_mu_);
    kv_stopping_ = true;
  }
  kv_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (server_) server_->Stop();
}

void ReservationServer::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    SendToAll(FrameType::kHeartbeat, "");
    lock.lock();
    cv_.wait_for(lock, options_.heartbeat_interval, [&] { return stopping_; });
  }
}

void ReservationServer::Emit(const NodeEvent& e) {
  if (options_.on_event) options_.on_event(e);
}

std::string ReservationServer::MissingList() const {
  std::string out;
  for (int i = 0; i < options_.layout.num_executors; ++i) {
    if (registered_.count(i)) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(i) + " (" + RoleLabel(RoleFor(options_.layout, i)) + ")";
  }
  return out;
}

Result<ClusterSpec> ReservationServer::AwaitAll(net::Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  // Only once every node has its spec: a driver that aborts right after this return reaches
  // nodes that know they joined, not nodes still waiting for a spec from a closed connection.
  while (!announced_ && abort_status_.ok()) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && !announced_) {
      int n = options_.layout.num_executors;
      return Timeout("reservation timed out: " + std::to_string(registered_.size()) + " of " +
                     std::to_string(n) + " executors registered; missing executor(s) " +
                     MissingList() + ". Check that the cluster has " + std::to_string(n) +
                     " executors free (one node per executor) and that nodes can reach " +
                     address_.ToString() + "; see the missing nodes' logs");
    }
  }
  if (!abort_status_.ok()) return abort_status_;
  return spec_template_.cluster;
}

void ReservationServer::Abort(const Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_status_ = why;
  cv_.notify_all();
}

std::map<int, Registration> ReservationServer::registrations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registered_;
}

bool ReservationServer::IsConnected(int id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.count(id) > 0;
}

Status ReservationServer::SendTo(int id, FrameType type, const std::string& payload) {
  std::shared_ptr<Node> node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = connections_.find(id);
    if (it == connections_.end())
      return Unavailable("executor " + std::to_string(id) + " is not connected");
    node = it->second;
  }
  std::lock_guard<std::mutex> lock(node->write_mu);
  if (!node->socket) return Unavailable("executor " + std::to_string(id) + " disconnected");
  return net::WriteFrame(*node->socket, type, payload, net::After(kWriteTimeout));
}

Status ReservationServer::SendStop(int id) { return SendTo(id, FrameType::kStop, ""); }

void ReservationServer::SendToAll(FrameType type, const std::string& payload) {
  std::vector<int> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, n] : connections_) ids.push_back(id);
  }
  // A node that cannot be reached is reported by its own control loop (it disconnects), and
  // after a job error it is being killed (local) or ends with its Spark task.
  for (int id : ids) (void)SendTo(id, type, payload);
}

void ReservationServer::BroadcastJobError(const std::string& message) {
  SendToAll(FrameType::kJobError, message);
}

void ReservationServer::HandleReservation(net::Socket& socket) {
  const std::string peer = socket.PeerAddress();
  auto reg = ReadRegistration(socket, peer);
  if (!reg.ok()) return;  // told the node why, and logged it
  const int id = reg->executor_id;
  auto node = std::make_shared<Node>();
  node->socket = &socket;
  node->instance = reg->instance;
  bool completes = false;
  auto to_notify = Admit(*reg, node, socket, &completes);
  if (!to_notify.ok()) return;
  Emit({NodeEvent::kRegistered, id, peer});
  SendClusterSpecs(*to_notify, completes);
  Status why_closed = ControlLoop(socket, id);
  bool current = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = connections_.find(id);
    if (it != connections_.end() && it->second == node) {
      connections_.erase(it);
      current = true;
    }
  }
  {
    std::lock_guard<std::mutex> wl(node->write_mu);
    node->socket = nullptr;
  }
  if (current) Emit({NodeEvent::kDisconnected, id, why_closed.message()});
}

Result<Registration> ReservationServer::ReadRegistration(net::Socket& socket,
                                                         const std::string& peer) {
  auto frame = net::ReadFrame(socket, net::After(kRegistrationTimeout), kMaxControlFrame);
  if (!frame.ok()) {
    LogWarning("reservation server: no registration from " + peer + ": " +
               frame.status().message());
    return frame.status();
  }
  if (frame->type != FrameType::kRegister) {
    LogWarning("reservation server: " + peer + " sent " + net::FrameTypeName(frame->type) +
               " before REGISTER; dropped");
    return DataLoss("no REGISTER");
  }
  auto reg = DecodeRegistration(frame->payload);
  const int n = options_.layout.num_executors;
  Status why =
      !reg.ok() ? reg.status()
      : reg->executor_id >= n
          ? InvalidArgument("executor id " + std::to_string(reg->executor_id) +
                            " is outside the cluster of " + std::to_string(n) + " executors")
          : Status::OK();
  if (!why.ok()) {
    LogWarning("reservation server: rejected registration from " + peer + ": " + why.message());
    // Best effort: a node that does not get the reason times out naming the driver.
    (void)net::WriteFrame(socket, FrameType::kJobError, why.message(), net::After(kWriteTimeout));
    return why;
  }
  return reg;
}

Result<std::vector<std::pair<int, std::shared_ptr<ReservationServer::Node>>>>
ReservationServer::Admit(const Registration& reg, const std::shared_ptr<Node>& node,
                         net::Socket& socket, bool* completes) {
  const int id = reg.executor_id;
  const int n = options_.layout.num_executors;
  std::vector<std::pair<int, std::shared_ptr<Node>>> to_notify;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = registered_.find(id);
  if (it != registered_.end() && it->second.instance != reg.instance) {
    auto& first = it->second;
    std::string why = "duplicate executor id " + std::to_string(id) + ": already registered by " +
                      first.host + " pid " + std::to_string(first.pid) + ", now claimed by " +
                      reg.host + " pid " + std::to_string(reg.pid) +
                      "; each executor must run exactly one node";
    LogWarning("reservation server: " + why);
    // Best effort, as for any rejected registration; it writes only to this socket.
    (void)net::WriteFrame(socket, FrameType::kJobError, why, net::After(kWriteTimeout));
    return Aborted(why);
  }
  registered_[id] = reg;
  connections_[id] = node;
  if (!complete_ && static_cast<int>(registered_.size()) == n) {
    complete_ = true;
    spec_template_.num_executors = n;
    for (int i = 0; i < n; ++i) {
      auto role = RoleFor(options_.layout, i);
      auto& list = spec_template_.cluster[role.job_name];
      if (static_cast<int>(list.size()) <= role.task_index) list.resize(role.task_index + 1);
      list[role.task_index] = registered_[i].host + ":" + std::to_string(registered_[i].port);
      spec_template_.feed_addresses[i] =
          registered_[i].host + ":" + std::to_string(registered_[i].feed_port);
    }
    for (auto& [i, c] : connections_) to_notify.emplace_back(i, c);
    *completes = true;
  } else if (complete_) {
    to_notify.emplace_back(id, node);  // a retried registration after completion
  }
  return to_notify;
}

void ReservationServer::SendClusterSpecs(
    const std::vector<std::pair<int, std::shared_ptr<Node>>>& to_notify, bool announce) {
  for (auto& [i, c] : to_notify) {
    ClusterReply reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reply = spec_template_;
    }
    auto role = RoleFor(options_.layout, i);
    reply.job_name = role.job_name;
    reply.task_index = role.task_index;
    std::lock_guard<std::mutex> wl(c->write_mu);
    if (c->socket) {
      Status st = net::WriteFrame(*c->socket, FrameType::kClusterSpec, EncodeClusterReply(reply),
                                  net::After(kWriteTimeout));
      if (!st.ok())
        LogWarning("reservation server: cluster spec to executor " + std::to_string(i) + ": " +
                   st.message());
    }
  }
  if (!announce) return;
  std::lock_guard<std::mutex> lock(mu_);
  announced_ = true;
  cv_.notify_all();
}

// The node's heartbeats, errors and completion. The driver fails a node that is silent for
// node_timeout (naming it); the deadline here only frees this thread later.
Status ReservationServer::ControlLoop(net::Socket& socket, int id) {
  for (;;) {
    auto f = net::ReadFrame(socket, net::After(options_.node_timeout + kControlReadSlack),
                            kMaxControlFrame);
    if (!f.ok()) {
      return f.status().code() == StatusCode::kTimeout
                 ? Timeout("no heartbeat for " +
                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                              options_.node_timeout + kControlReadSlack)
                                              .count()) +
                           " s")
                 : f.status();
    }
    switch (f->type) {
      case FrameType::kHeartbeat:
        Emit({NodeEvent::kHeartbeat, id, f->payload});
        break;
      case FrameType::kNodeError:
        Emit({NodeEvent::kError, id, f->payload});
        break;
      case FrameType::kNodeDone:
        Emit({NodeEvent::kDone, id, ""});
        break;
      default:
        LogWarning("reservation server: executor " + std::to_string(id) + " sent an unexpected " +
                   net::FrameTypeName(f->type) + " frame; closing its control channel");
        return DataLoss(std::string("unexpected ") + net::FrameTypeName(f->type) + " frame");
    }
  }
}

// KV store: KV_SET key\0value -> KV_VALUE ""; KV_GET key\0timeout_ms -> KV_VALUE value (waits);
// KV_ADD key\0delta -> KV_VALUE new value. Errors -> JOB_ERROR with the reason.
void ReservationServer::HandleKv(net::Socket& socket) {
  for (;;) {
    auto f = net::ReadFrame(socket, net::Never(), 64u << 20);
    if (!f.ok()) return;
    auto zero = f->payload.find('\0');
    if (zero == std::string::npos) {
      // The connection is closed next either way; the client's call fails with or without it.
      (void)net::WriteFrame(socket, FrameType::kJobError, "malformed KV request",
                            net::After(kWriteTimeout));
      return;
    }
    std::string key = f->payload.substr(0, zero);
    std::string arg = f->payload.substr(zero + 1);
    std::string reply;
    if (f->type == FrameType::kKvSet) {
      std::lock_guard<std::mutex> lock(kv_mu_);
      kv_[key] = arg;
      kv_cv_.notify_all();
    } else if (f->type == FrameType::kKvAdd) {
      std::lock_guard<std::mutex> lock(kv_mu_);
      long long v = kv_.count(key) ? std::atoll(kv_[key].c_str()) : 0;
      v += std::atoll(arg.c_str());
      kv_[key] = std::to_string(v);
      reply = kv_[key];
      kv_cv_.notify_all();
    } else if (f->type == FrameType::kKvGet) {
      auto deadline = net::After(std::chrono::milliseconds(std::atoll(arg.c_str())));
      std::unique_lock<std::mutex> lock(kv_mu_);
      bool found =
          kv_cv_.wait_until(lock, deadline, [&] { return kv_.count(key) > 0 || kv_stopping_; });
      if (kv_stopping_) return;
      if (!found) {
        lock.unlock();
        // A client that cannot be told times out on its own deadline (KvClient::Get).
        (void)net::WriteFrame(socket, FrameType::kJobError,
                              "key '" + key + "' not set before the timeout",
                              net::After(kWriteTimeout));
        continue;
      }
      reply = kv_[key];
    } else {
      return;
    }
    if (!net::WriteFrame(socket, FrameType::kKvValue, reply, net::After(kWriteTimeout)).ok())
      return;
  }
}

}  // namespace tos::reservation
