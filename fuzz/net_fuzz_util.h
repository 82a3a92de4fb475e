// A connected socket pair whose peer has sent exactly the fuzz input and then closed its
// sending side: the real socket readers (ReadFull, ReadFrame, the handshakes) run on `ours`
// and meet a clean end of stream after the input, so no call waits.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "net/socket.h"

namespace tos::fuzz {

// Inputs are capped well below the socket buffer so that the peer's write never blocks.
constexpr size_t kMaxSocketInput = 64 << 10;

struct FedSocket {
  net::Socket ours;
  net::Socket peer;  // still open: what `ours` writes lands in its receive buffer

  bool Feed(const uint8_t* data, size_t size) {
    int fds[2];
    if (size > kMaxSocketInput || ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return false;
    ours = net::Socket(fds[0]);
    peer = net::Socket(fds[1]);
    int buf = 1 << 20;
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    ::setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    size_t off = 0;
    while (off < size) {
      ssize_t w = ::send(fds[1], data + off, size - off, MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += static_cast<size_t>(w);
    }
    ::shutdown(fds[1], SHUT_WR);
    return true;
  }
};

}  // namespace tos::fuzz
