// The node's feed server: accepts authenticated feed connections (from the driver in local
// mode, from the Spark task on the same executor in Spark mode) and moves their frames into
// the named FeedQueues. See docs/protocol.md, "Feed channel".
#pragma once

#include <atomic>
#include <memory>

#include "feed/queue.h"
#include "net/server.h"

namespace tos::feed {

class FeedServer {
 public:
  struct Options {
    std::string secret;
    std::string bind_host = "0.0.0.0";
    std::string port_spec;  // "" = any free port
    size_t max_frame_bytes = 64u << 20;
  };
  static Result<std::unique_ptr<FeedServer>> Start(Options options, FeedRegistry* registry);
  ~FeedServer();
  int port() const { return server_->port(); }
  void Stop();

 private:
  FeedServer() = default;
  void Handle(net::Socket& socket);
  Options options_;
  std::atomic<bool> stopping_{false};
  FeedRegistry* registry_ = nullptr;
  std::unique_ptr<net::AuthServer> server_;
};

}  // namespace tos::feed
