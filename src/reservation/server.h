// The driver's reservation server (docs/protocol.md, "Reservation and control").
//
// Nodes connect, authenticate, REGISTER and keep the connection open: it becomes the control
// channel (heartbeats, errors and completion flow to the driver; STOP and JOB_ERROR flow to
// the node). Once all N executors have registered, every node gets the same cluster spec.
// The same port also serves a small key-value store (channel kKvStore) that collective
// back-ends use for rendezvous.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "net/server.h"
#include "reservation/messages.h"

namespace tos::reservation {

struct NodeEvent {
  enum Kind { kRegistered, kHeartbeat, kError, kDone, kDisconnected };
  Kind kind;
  int executor_id = -1;
  std::string message;  // error text, or heartbeat JSON
};

class ReservationServer {
 public:
  struct Options {
    std::string secret;
    RoleLayout layout;
    std::string bind_host = "0.0.0.0";
    std::string advertise_host;  // what nodes connect to; default net::AdvertisedHost()
    std::string port_spec;       // "", "9997" or "9997-9999" (TFOS_SERVER_PORT style)
    std::function<void(const NodeEvent&)> on_event;  // called from server threads
    // The driver's heartbeat to every connected node, so a node notices a lost driver; and
    // how long a node's control channel may stay silent before the server closes it.
    std::chrono::milliseconds heartbeat_interval{1000};
    std::chrono::milliseconds node_timeout{60000};
  };

  static Result<std::unique_ptr<ReservationServer>> Start(Options options);
  ~ReservationServer();

  net::HostPort address() const { return address_; }

  // Blocks until all executors registered (returns the spec) or the deadline: Timeout naming
  // the executors that never registered. Aborted if Abort() was called meanwhile.
  Result<ClusterSpec> AwaitAll(net::Deadline deadline);

  std::map<int, Registration> registrations() const;
  bool IsConnected(int executor_id) const;

  // Control messages. Unavailable if the node is not connected.
  Status SendStop(int executor_id);
  void BroadcastJobError(const std::string& message);
  // Wakes AwaitAll with this status.
  void Abort(const Status& why);

  void Stop();

 private:
  struct Node;
  ReservationServer() = default;
  // One node's connection: ReadRegistration, Admit, SendClusterSpecs (to everyone once the
  // last node is in), then ControlLoop until the connection ends.
  void HandleReservation(net::Socket& socket);
  Result<Registration> ReadRegistration(net::Socket& socket, const std::string& peer);
  // Records the registration; the nodes to send the cluster spec to now (all of them when this
  // one completes the cluster: *completes). Aborted for a second claim of an executor id.
  Result<std::vector<std::pair<int, std::shared_ptr<Node>>>> Admit(
      const Registration& reg, const std::shared_ptr<Node>& node, net::Socket& socket,
      bool* completes);
  // Sends each its spec; `announce`: these are all the nodes, and AwaitAll may return now.
  void SendClusterSpecs(const std::vector<std::pair<int, std::shared_ptr<Node>>>& to_notify,
                        bool announce);
  // Why the connection ended.
  Status ControlLoop(net::Socket& socket, int id);
  void HandleKv(net::Socket& socket);
  void HeartbeatLoop();
  void Emit(const NodeEvent& e);
  Status SendTo(int executor_id, net::FrameType type, const std::string& payload);
  void SendToAll(net::FrameType type, const std::string& payload);  // every connected node
  std::string MissingList() const;                                  // requires mu_

  Options options_;
  net::HostPort address_;
  std::unique_ptr<net::AuthServer> server_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Registration> registered_;
  std::map<int, std::shared_ptr<Node>> connections_;
  bool complete_ = false;   // every executor registered
  bool announced_ = false;  // ... and each was sent the cluster spec: AwaitAll returns
  ClusterReply spec_template_;
  Status abort_status_;

  std::mutex kv_mu_;
  std::condition_variable kv_cv_;
  std::map<std::string, std::string> kv_;
  bool kv_stopping_ = false;

  std::thread heartbeat_thread_;
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace tos::reservation
