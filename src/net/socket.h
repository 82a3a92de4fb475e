// Thin RAII wrappers over POSIX TCP sockets. Every blocking call takes a deadline.
// Sockets are non-blocking underneath; waits use poll(), so another thread can wake a
// blocked reader by calling Socket::Shutdown().
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "tos/status.h"

namespace tos::net {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Now + d; a d too long for the clock (years) is Never() rather than an overflow.
inline Deadline After(std::chrono::milliseconds d) {
  const Deadline now = Clock::now();
  if (d >= std::chrono::duration_cast<std::chrono::milliseconds>(Deadline::max() - now))
    return Deadline::max();
  return now + d;
}
inline Deadline Never() { return Deadline::max(); }

struct HostPort {
  std::string host;
  int port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

// "host:port" -> HostPort; InvalidArgument naming the text otherwise.
Result<HostPort> ParseHostPort(const std::string& text);

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { Close(); }
  Socket(Socket&& o) noexcept : fd_(o.Release()) {}
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void Close();
  // Wakes any thread blocked in poll() on this socket; the fd stays open until Close().
  void Shutdown();

  int LocalPort() const;
  std::string PeerAddress() const;  // "ip:port" or "?"

 private:
  int fd_ = -1;
};

struct ListenOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0 = any free port
  int backlog = 128;
  bool reuse_port = false;
  bool listen = true;  // false: bind only (a reserved port held for someone else)
};

Result<Socket> Listen(const ListenOptions& options);

// Binds the first free port of [first, last] (both inclusive).
Result<Socket> ListenInRange(ListenOptions options, int first, int last);

// Port spec from the environment: "9997" or "9997-9999". Empty -> {0,0}.
Result<std::pair<int, int>> ParsePortRange(const std::string& spec);

Result<Socket> Connect(const HostPort& addr, Deadline deadline);

// Liveness of every connection Connect() opens and Accept() accepts: TCP keepalive probes and
// TCP_USER_TIMEOUT, so a peer whose host vanished without a FIN or RST (a dropped network) is
// noticed within the timeout instead of after the kernel's 15 minutes of retransmissions.
// Default 60 s; nodes and drivers set it to the job's node_timeout.
void SetDefaultPeerTimeout(std::chrono::milliseconds timeout);
std::chrono::milliseconds DefaultPeerTimeout();
// The same on one connection, for one whose reader may rightly pause longer (a feed, whose
// consumer may stop reading for up to feed_timeout: TCP_USER_TIMEOUT also bounds how long the
// peer's receive window may stay closed).
Status SetPeerTimeout(const Socket& s, std::chrono::milliseconds timeout);
Status SetPeerTimeout(int fd, std::chrono::milliseconds timeout);

// Accepts one connection, or Timeout at the deadline; Aborted if the listener was shut down.
Result<Socket> Accept(const Socket& listener, Deadline deadline);

Status WriteAll(const Socket& s, const void* data, size_t n, Deadline deadline);
Status ReadFull(const Socket& s, void* data, size_t n, Deadline deadline);
// ReadFull of bytes [offset, offset + n) of a message of `total` bytes that is read in parts:
// a closed connection is reported as after (offset + bytes read) of `total` bytes.
Status ReadFullPart(const Socket& s, void* data, size_t n, size_t offset, size_t total,
                    Deadline deadline);
// Waits until readable or the deadline. OK when readable (or closed), Timeout otherwise.
Status WaitReadable(const Socket& s, Deadline deadline);

// The host name nodes advertise: $TOS_HOST if set, else the first non-loopback IPv4
// address, else 127.0.0.1.
std::string AdvertisedHost();

}  // namespace tos::net
