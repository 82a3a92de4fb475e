// Cancels blocking socket operations from another thread: Cancel() shuts down every
// registered socket, so a thread blocked in poll() wakes at once instead of at its deadline.
#pragma once

#include <mutex>
#include <set>

#include "net/socket.h"

namespace tos::net {

class CancelToken {
 public:
  // Returns false (and does not register) if already cancelled.
  bool Register(Socket* s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!why_.ok()) return false;
    sockets_.insert(s);
    return true;
  }
  void Unregister(Socket* s) {
    std::lock_guard<std::mutex> lock(mu_);
    sockets_.erase(s);
  }
  void Cancel(const Status& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (why_.ok()) why_ = why.ok() ? Aborted("cancelled") : why;
    for (auto* s : sockets_) s->Shutdown();
  }
  Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return why_;
  }
  bool cancelled() const { return !status().ok(); }

 private:
  mutable std::mutex mu_;
  Status why_;
  std::set<Socket*> sockets_;
};

}  // namespace tos::net
