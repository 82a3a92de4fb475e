#include "net/server.h"

#include "tos/log.h"

namespace tos::net {
namespace {

// The accept loop wakes this often to reap finished connections and flush warnings.
constexpr auto kAcceptWakeup = std::chrono::milliseconds(500);
// After a failed accept (e.g. EMFILE), a pause before the next, so the loop does not spin.
constexpr auto kAcceptErrorPause = std::chrono::milliseconds(50);
// "10.0.0.7:41234" -> "10.0.0.7": warnings are limited per host, not per connection.
std::string HostOf(const std::string& peer) {
  auto colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}
}  // namespace

Result<std::unique_ptr<AuthServer>> AuthServer::Start(Socket listener, Options options,
                                                      Handler handler) {
  if (options.secret.empty()) return InvalidArgument(options.name + ": empty job secret");
  std::unique_ptr<AuthServer> server(new AuthServer());
  server->options_ = std::move(options);
  server->handler_ = std::move(handler);
  server->port_ = listener.LocalPort();
  server->listener_ = std::move(listener);
  server->warnings_ = std::make_unique<RateLimitedWarnings>(server->options_.warning_interval);
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

AuthServer::~AuthServer() { Stop(); }

void AuthServer::Stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  listener_.Shutdown();
  if (accept_thread_.joinable()) accept_thread_.join();
  std::list<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : open_) s->Shutdown();
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  listener_.Close();
  if (warnings_) warnings_->Flush(/*all=*/true);  // nothing held back is lost at the end
}

void AuthServer::ReapFinished() {
  // Joins threads whose handlers returned, so a long-lived server does not accumulate them.
  std::list<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto id : finished_) {
      for (auto it = threads_.begin(); it != threads_.end(); ++it) {
        if (it->get_id() == id) {
          done.splice(done.end(), threads_, it);
          break;
        }
      }
    }
    finished_.clear();
  }
  for (auto& t : done) t.join();
}

void AuthServer::AcceptLoop() {
  while (!stopping_) {
    auto conn = Accept(listener_, After(kAcceptWakeup));
    ReapFinished();
    warnings_->Flush();
    if (!conn.ok()) {
      if (conn.status().code() == StatusCode::kTimeout) continue;
      if (!stopping_) LogWarning(options_.name + ": accept failed: " + conn.status().ToString());
      if (conn.status().code() == StatusCode::kAborted) return;
      std::this_thread::sleep_for(kAcceptErrorPause);
      continue;
    }
    auto socket = std::make_shared<Socket>(std::move(conn).value());
    std::lock_guard<std::mutex> lock(mu_);
    if (open_.size() >= options_.max_connections) {
      warnings_->Warn(HostOf(socket->PeerAddress()),
                      options_.name + ": refusing " + socket->PeerAddress() + ": " +
                          std::to_string(open_.size()) + " connections already open");
      continue;
    }
    open_.insert(socket);
    threads_.emplace_back([this, socket] { Serve(socket); });
  }
}

void AuthServer::Serve(const std::shared_ptr<Socket>& socket) {
  std::string peer = socket->PeerAddress();
  auto channel = ServerHandshake(*socket, options_.secret, After(options_.handshake_timeout));
  if (!channel.ok()) {
    if (!stopping_) {
      warnings_->Warn(HostOf(peer), options_.name + ": dropped connection from " + peer + ": " +
                                        channel.status().message());
    }
  } else {
    handler_(*socket, *channel);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(socket);
    finished_.push_back(std::this_thread::get_id());
  }
  socket->Close();
}

}  // namespace tos::net
