#include "net/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace tos::net {
namespace {

std::atomic<long long> g_peer_timeout_ms{60000};

Status ApplyPeerTimeout(int fd, std::chrono::milliseconds timeout) {
  const long long ms = std::max<long long>(timeout.count(), 1000);
  // Probe an idle connection after a quarter of the timeout, then every eighth: a dead peer is
  // declared within about the timeout whether or not data is in flight. Linux refuses (EINVAL)
  // keepalive times over kMaxKeepaliveSeconds and a user timeout over INT_MAX ms, so a very
  // long timeout (over about 36 hours) probes at those limits instead.
  constexpr long long kMaxKeepaliveSeconds = 32767;
  int idle = static_cast<int>(std::clamp<long long>(ms / 4000, 1, kMaxKeepaliveSeconds));
  int interval = static_cast<int>(std::clamp<long long>(ms / 8000, 1, kMaxKeepaliveSeconds));
  int count = 4;
  int one = 1;
  int user_timeout = static_cast<int>(std::min<long long>(ms, INT_MAX));
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout)) != 0) {
    return ErrnoError("setting TCP keepalive and TCP_USER_TIMEOUT", errno);
  }
  return Status::OK();
}

int PollTimeoutMs(Deadline deadline) {
  if (deadline == Deadline::max()) return 1000;  // wake up periodically; callers loop
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000 ? 1000 : static_cast<int>(left);
}

Status SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return ErrnoError("fcntl", errno);
  return Status::OK();
}

// Waits for `events` on fd. OK when ready, Timeout at the deadline.
Status PollFor(int fd, short events, Deadline deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int timeout = PollTimeoutMs(deadline);
    int rc = ::poll(&p, 1, timeout);
    if (rc > 0) return Status::OK();
    if (rc < 0 && errno != EINTR) return ErrnoError("poll", errno);
    if (Clock::now() >= deadline) return Timeout(std::string("timed out waiting to ") + what);
  }
}

Result<sockaddr_in> Resolve(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (host.empty() || host == "0.0.0.0") {
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    return addr;
  }
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1) return addr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Unavailable("cannot resolve host '" + host + "': " + gai_strerror(rc));
  }
  addr.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return addr;
}

}  // namespace

Result<HostPort> ParseHostPort(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return InvalidArgument("expected HOST:PORT, got '" + text + "'");
  }
  HostPort hp;
  hp.host = text.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) {
    return InvalidArgument("bad port in '" + text + "' (expected 1..65535)");
  }
  hp.port = static_cast<int>(port);
  return hp;
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = o.Release();
  }
  return *this;
}

void Socket::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Socket::Shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

int Socket::LocalPort() const {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  return ntohs(addr.sin_port);
}

std::string Socket::PeerAddress() const {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char buf[INET_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET, &addr.sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(addr.sin_port));
}

Result<Socket> Listen(const ListenOptions& options) {
  TOS_ASSIGN_OR_RETURN(sockaddr_in addr, Resolve(options.host, options.port));
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return ErrnoError("socket", errno);
  int one = 1;
  setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (options.reuse_port) setsockopt(s.fd(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError("bind " + options.host + ":" + std::to_string(options.port), errno);
  }
  if (options.listen && ::listen(s.fd(), options.backlog) != 0) return ErrnoError("listen", errno);
  TOS_RETURN_IF_ERROR(SetNonBlocking(s.fd()));
  return s;
}

Result<Socket> ListenInRange(ListenOptions options, int first, int last) {
  if (first == 0 && last == 0) return Listen(options);
  Status last_error = Unavailable("empty port range");
  for (int port = first; port <= last; ++port) {
    options.port = port;
    auto s = Listen(options);
    if (s.ok()) return s;
    last_error = s.status();
  }
  return Unavailable("no free port in " + std::to_string(first) + "-" + std::to_string(last) +
                     " on " + options.host + " (last error: " + last_error.message() +
                     "); widen the range or free a port");
}

Result<std::pair<int, int>> ParsePortRange(const std::string& spec) {
  if (spec.empty()) return std::make_pair(0, 0);
  auto dash = spec.find('-');
  auto parse = [&](const std::string& t) -> int {
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || v <= 0 || v > 65535) return -1;
    return static_cast<int>(v);
  };
  int a = parse(dash == std::string::npos ? spec : spec.substr(0, dash));
  int b = dash == std::string::npos ? a : parse(spec.substr(dash + 1));
  if (a < 0 || b < 0 || b < a) {
    return InvalidArgument("bad port spec '" + spec + "': expected PORT or FIRST-LAST");
  }
  return std::make_pair(a, b);
}

Result<Socket> Connect(const HostPort& hp, Deadline deadline) {
  TOS_ASSIGN_OR_RETURN(sockaddr_in addr, Resolve(hp.host, hp.port));
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return ErrnoError("socket", errno);
  TOS_RETURN_IF_ERROR(SetNonBlocking(s.fd()));
  int one = 1;
  setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  TOS_RETURN_IF_ERROR(ApplyPeerTimeout(s.fd(), DefaultPeerTimeout()));
  int rc = ::connect(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (rc != 0 && errno != EINPROGRESS) return ErrnoError("connect to " + hp.ToString(), errno);
  if (rc != 0) {
    Status st = PollFor(s.fd(), POLLOUT, deadline, ("connect to " + hp.ToString()).c_str());
    if (!st.ok()) return st;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return ErrnoError("connect to " + hp.ToString(), err);
  }
  return s;
}

void SetDefaultPeerTimeout(std::chrono::milliseconds timeout) {
  g_peer_timeout_ms = timeout.count();
}

std::chrono::milliseconds DefaultPeerTimeout() {
  return std::chrono::milliseconds(g_peer_timeout_ms.load());
}

Status SetPeerTimeout(const Socket& s, std::chrono::milliseconds timeout) {
  return ApplyPeerTimeout(s.fd(), timeout);
}
Status SetPeerTimeout(int fd, std::chrono::milliseconds timeout) {
  return ApplyPeerTimeout(fd, timeout);
}

Result<Socket> Accept(const Socket& listener, Deadline deadline) {
  for (;;) {
    int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Socket s(fd);
      TOS_RETURN_IF_ERROR(ApplyPeerTimeout(fd, DefaultPeerTimeout()));
      return s;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EINVAL || errno == EBADF) return Aborted("listener closed");
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ErrnoError("accept", errno);
    pollfd p{listener.fd(), POLLIN, 0};
    int rc = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) return Aborted("listener closed");
    if (rc == 0 && Clock::now() >= deadline) return Timeout("no connection before the deadline");
  }
}

Status WriteAll(const Socket& s, const void* data, size_t n, Deadline deadline) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(s.fd(), p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      TOS_RETURN_IF_ERROR(PollFor(s.fd(), POLLOUT, deadline, "send"));
      continue;
    }
    return ErrnoError("send to " + s.PeerAddress(), errno);
  }
  return Status::OK();
}

Status ReadFull(const Socket& s, void* data, size_t n, Deadline deadline) {
  return ReadFullPart(s, data, n, 0, n, deadline);
}

Status ReadFullPart(const Socket& s, void* data, size_t n, size_t offset, size_t total,
                    Deadline deadline) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(s.fd(), p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      return Unavailable("connection closed by peer after " + std::to_string(offset + got) +
                         " of " + std::to_string(total) + " bytes");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      TOS_RETURN_IF_ERROR(PollFor(s.fd(), POLLIN, deadline, "receive"));
      continue;
    }
    return ErrnoError("recv", errno);
  }
  return Status::OK();
}

Status WaitReadable(const Socket& s, Deadline deadline) {
  return PollFor(s.fd(), POLLIN, deadline, "receive");
}

std::string AdvertisedHost() {
  if (const char* h = std::getenv("TOS_HOST"); h && *h) return h;
  ifaddrs* ifs = nullptr;
  std::string result = "127.0.0.1";
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      auto* a = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      if ((ntohl(a->sin_addr.s_addr) >> 24) == 127) continue;
      char buf[INET_ADDRSTRLEN] = {0};
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
      result = buf;
      break;
    }
    freeifaddrs(ifs);
  }
  return result;
}

}  // namespace tos::net
