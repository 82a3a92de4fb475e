// An authenticating TCP server: accepts connections, runs the HMAC handshake on each with a
// deadline (a slow or silent client cannot stall the accept loop), then hands the socket to
// a handler on its own thread. Failed handshakes are logged and dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "net/auth.h"
#include "util/rate_limit.h"

namespace tos::net {

class AuthServer {
 public:
  struct Options {
    std::string name = "server";  // for log lines: "feed server", "reservation server"
    std::string secret;
    std::chrono::milliseconds handshake_timeout{5000};
    size_t max_connections = 256;  // beyond this, new connections are refused
    // Dropped and refused connections are logged once per source address per interval,
    // with a count of the others.
    std::chrono::milliseconds warning_interval{10000};
  };
  // Runs on a per-connection thread. The socket stays registered (Stop() shuts it down)
  // until the handler returns.
  using Handler = std::function<void(Socket& socket, Channel channel)>;

  static Result<std::unique_ptr<AuthServer>> Start(Socket listener, Options options,
                                                   Handler handler);
  ~AuthServer();

  int port() const { return port_; }
  // Stops accepting, shuts down every open connection and joins all threads. Idempotent.
  void Stop();

 private:
  AuthServer() = default;
  void AcceptLoop();
  void Serve(const std::shared_ptr<Socket>& socket);
  void ReapFinished();

  Options options_;
  Handler handler_;
  Socket listener_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::set<std::shared_ptr<Socket>> open_;
  std::list<std::thread> threads_;
  std::list<std::thread::id> finished_;
  std::unique_ptr<RateLimitedWarnings> warnings_;
};

}  // namespace tos::net
