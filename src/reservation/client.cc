#include "reservation/client.h"

#include <thread>

#include "tos/log.h"

namespace tos::reservation {

using net::FrameType;

namespace {
constexpr std::chrono::seconds kWriteTimeout{10};

// One connection attempt and its handshake; the caller's deadline bounds the retries.
constexpr auto kConnectAttemptTimeout = std::chrono::seconds(5);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// Pauses before the next attempt: after a failed connection, after an interrupted
// registration.
constexpr auto kConnectRetryPause = std::chrono::milliseconds(100);
constexpr auto kRegisterRetryPause = std::chrono::milliseconds(200);
// A Get's answer may arrive this long after the store gave up waiting for the key.
constexpr auto kGetReplyMargin = std::chrono::seconds(5);

Result<net::Socket> ConnectWithRetry(const net::HostPort& server, const std::string& secret,
                                     net::Channel channel, net::Deadline deadline) {
  Status last;
  while (net::Clock::now() < deadline) {
    auto s = net::Connect(server, std::min(deadline, net::After(kConnectAttemptTimeout)));
    if (s.ok()) {
      Status hs = net::ClientHandshake(*s, secret, channel,
                                       std::min(deadline, net::After(kHandshakeTimeout)));
      if (hs.ok()) return std::move(s).value();
      if (hs.code() == StatusCode::kPermissionDenied) return hs;
      last = hs;
    } else {
      last = s.status();
    }
    std::this_thread::sleep_for(kConnectRetryPause);
  }
  return Timeout("could not reach the driver's reservation server at " + server.ToString() +
                 (last.ok() ? std::string() : " (last error: " + last.message() + ")") +
                 "; check TOS_SERVER_HOST/TOS_SERVER_PORT and firewalls");
}
// The driver heartbeats every node it knows (also while others still join).
Status DriverSilent(const std::string& address, std::chrono::milliseconds timeout,
                    const std::string& while_doing) {
  return Timeout("no heartbeat from the driver at " + address + " for " +
                 std::to_string(timeout.count() / 1000) + " s (node_timeout)" + while_doing +
                 ": the driver is stopped, frozen or unreachable");
}
}  // namespace

Result<std::unique_ptr<ControlChannel>> ControlChannel::Register(
    const net::HostPort& server, const std::string& secret, const Registration& registration,
    net::Deadline deadline, std::chrono::milliseconds driver_timeout, ClusterReply* reply) {
  Status last;
  // The first connection may wait for the server until the deadline; after a lost one, a
  // driver that does not answer again within driver_timeout is gone.
  net::Deadline connect_by = deadline;
  while (net::Clock::now() < deadline) {
    auto sock = ConnectWithRetry(server, secret, net::Channel::kReservation, connect_by);
    if (!sock.ok()) {
      if (last.ok() || sock.status().code() == StatusCode::kPermissionDenied) return sock.status();
      return Unavailable("lost the driver's reservation server at " + server.ToString() +
                         " while waiting for the cluster spec (" + last.message() +
                         ") and could not reach it again within " +
                         std::to_string(driver_timeout.count() / 1000) +
                         " s (node_timeout): the driver ended or is unreachable");
    }
    std::unique_ptr<ControlChannel> ch(new ControlChannel());
    ch->socket_ = std::move(sock).value();
    Status st = net::WriteFrame(ch->socket_, FrameType::kRegister, EncodeRegistration(registration),
                                net::After(kWriteTimeout));
    if (st.ok()) {
      auto read = [&] {
        return net::ReadFrame(ch->socket_, std::min(deadline, net::After(driver_timeout)), 1 << 20);
      };
      auto f = read();
      while (f.ok() && f->type == FrameType::kHeartbeat) f = read();
      if (f.ok() && f->type == FrameType::kClusterSpec) {
        TOS_ASSIGN_OR_RETURN(*reply, DecodeClusterReply(f->payload));
        return ch;
      }
      if (f.ok() && f->type == FrameType::kJobError) return Aborted(f->payload);
      if (f.ok())
        return DataLoss(std::string("driver sent ") + net::FrameTypeName(f->type) +
                        " instead of the cluster spec");
      if (f.status().code() == StatusCode::kTimeout) {
        if (net::Clock::now() < deadline)
          return DriverSilent(server.ToString(), driver_timeout,
                              " while waiting for the cluster spec");
        return Timeout("no cluster spec from the driver at " + server.ToString() +
                       " before the reservation timeout; other executors did not register "
                       "(the driver's log names them)");
      }
      st = f.status();
    }
    // Connection lost while waiting: register again (idempotent for the same instance).
    last = st;
    connect_by = std::min(deadline, net::After(driver_timeout));
    LogWarning("registration with " + server.ToString() + " interrupted (" + st.message() +
               "); retrying");
    std::this_thread::sleep_for(kRegisterRetryPause);
  }
  return Timeout("reservation with " + server.ToString() + " timed out" +
                 (last.ok() ? std::string() : ": " + last.message()));
}

ControlChannel::~ControlChannel() { Close(); }

void ControlChannel::StartReader(Callbacks cb, std::chrono::milliseconds driver_timeout) {
  reader_ = std::thread([this, cb = std::move(cb), driver_timeout] {
    for (;;) {
      auto f = net::ReadFrame(socket_, net::After(driver_timeout), 1 << 20);
      if (!f.ok()) {
        Status why = f.status();
        if (why.code() == StatusCode::kTimeout)
          why = DriverSilent(socket_.PeerAddress(), driver_timeout, "");
        if (!closing_ && cb.on_disconnect) cb.on_disconnect(why);
        return;
      }
      if (f->type == FrameType::kStop) {
        if (cb.on_stop) cb.on_stop();
      } else if (f->type == FrameType::kJobError) {
        if (cb.on_job_error) cb.on_job_error(f->payload);
      }
    }
  });
}

Status ControlChannel::Send(FrameType type, const std::string& payload) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (!socket_.valid()) return Unavailable("control channel closed");
  return net::WriteFrame(socket_, type, payload, net::After(kWriteTimeout));
}

Status ControlChannel::SendHeartbeat(const std::string& json) {
  return Send(FrameType::kHeartbeat, json);
}
Status ControlChannel::SendError(const std::string& m) { return Send(FrameType::kNodeError, m); }
Status ControlChannel::SendDone() { return Send(FrameType::kNodeDone, ""); }

void ControlChannel::Close() {
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    socket_.Shutdown();
  }
  if (reader_.joinable()) reader_.join();
  std::lock_guard<std::mutex> lock(write_mu_);
  socket_.Close();
}

Result<std::unique_ptr<KvClient>> KvClient::Connect(const net::HostPort& server,
                                                    const std::string& secret,
                                                    net::Deadline deadline) {
  TOS_ASSIGN_OR_RETURN(net::Socket s,
                       ConnectWithRetry(server, secret, net::Channel::kKvStore, deadline));
  auto c = std::make_unique<KvClient>();
  c->socket_ = std::move(s);
  return c;
}

Result<std::string> KvClient::Call(FrameType type, const std::string& key, const std::string& arg,
                                   net::Deadline deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string payload = key;
  payload.push_back('\0');
  payload += arg;
  TOS_RETURN_IF_ERROR(net::WriteFrame(socket_, type, payload, net::After(kWriteTimeout)));
  TOS_ASSIGN_OR_RETURN(net::Frame f, net::ReadFrame(socket_, deadline, 64u << 20));
  if (f.type == FrameType::kJobError) return Timeout("kv store: " + f.payload);
  if (f.type != FrameType::kKvValue) return DataLoss("kv store: unexpected reply");
  return f.payload;
}

Status KvClient::Set(const std::string& key, const std::string& value) {
  return Call(FrameType::kKvSet, key, value, net::After(kWriteTimeout)).status();
}

Result<std::string> KvClient::Get(const std::string& key, std::chrono::milliseconds timeout) {
  return Call(FrameType::kKvGet, key, std::to_string(timeout.count()),
              net::After(timeout + kGetReplyMargin));
}

Result<int64_t> KvClient::Add(const std::string& key, int64_t delta) {
  TOS_ASSIGN_OR_RETURN(std::string v, Call(FrameType::kKvAdd, key, std::to_string(delta),
                                           net::After(kWriteTimeout)));
  return static_cast<int64_t>(std::atoll(v.c_str()));
}

}  // namespace tos::reservation
