// Node side of the reservation/control channel.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "net/auth.h"
#include "reservation/messages.h"

namespace tos::reservation {

class ControlChannel {
 public:
  struct Callbacks {
    std::function<void()> on_stop;
    std::function<void(const std::string&)> on_job_error;
    std::function<void(const Status&)> on_disconnect;  // driver gone
  };

  // Connects (retrying until the deadline while the server is not up yet), authenticates,
  // registers and waits for the cluster spec. Timeout names the server; a JOB_ERROR reply
  // (duplicate id, reservation timeout on the driver) comes back as Aborted with its text.
  // The driver heartbeats registered nodes while others join: a driver silent for
  // `driver_timeout`, or gone (its server unreachable that long after a lost connection),
  // ends the wait then rather than at the deadline.
  static Result<std::unique_ptr<ControlChannel>> Register(
      const net::HostPort& server, const std::string& secret, const Registration& registration,
      net::Deadline deadline, std::chrono::milliseconds driver_timeout, ClusterReply* reply);
  ~ControlChannel();

  // Reads the driver's control frames. The driver heartbeats every node: a channel silent for
  // `driver_timeout` (the driver stopped, frozen or unreachable) ends with on_disconnect.
  void StartReader(Callbacks callbacks, std::chrono::milliseconds driver_timeout);

  Status SendHeartbeat(const std::string& json);
  Status SendError(const std::string& message);
  Status SendDone();
  void Close();

 private:
  ControlChannel() = default;
  Status Send(net::FrameType type, const std::string& payload);

  net::Socket socket_;
  std::mutex write_mu_;
  std::thread reader_;
  std::atomic<bool> closing_{false};
};

// Client of the driver's rendezvous key-value store (same port, channel kKvStore).
class KvClient {
 public:
  static Result<std::unique_ptr<KvClient>> Connect(const net::HostPort& server,
                                                   const std::string& secret,
                                                   net::Deadline deadline);
  Status Set(const std::string& key, const std::string& value);
  // Waits up to `timeout` for the key to be set.
  Result<std::string> Get(const std::string& key, std::chrono::milliseconds timeout);
  Result<int64_t> Add(const std::string& key, int64_t delta);

 private:
  Result<std::string> Call(net::FrameType type, const std::string& key, const std::string& arg,
                           net::Deadline deadline);
  net::Socket socket_;
  std::mutex mu_;
};

}  // namespace tos::reservation
