// Starting a gRPC server on a port reserved by the runtime, without a window in which another
// process could take the port.
//
// The runtime reserves a port by binding a TCP socket with SO_REUSEADDR and SO_REUSEPORT set
// (bound, not listening) and keeps it open. gRPC sets SO_REUSEPORT on its own listening
// sockets, so the server can bind the same port while the reservation is still held; only
// after BuildAndStart has succeeded is the reserved socket closed. Other processes cannot
// bind the port at any time in between (they lack SO_REUSEPORT, or run as another user).
#pragma once

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <string>

#include "tos/status.h"

namespace tos::train {

struct ReservedSocket {
  int fd = -1;
  int port = 0;
};

// Binds a TCP socket with SO_REUSEADDR + SO_REUSEPORT to host:port (port 0: any free port),
// without listening. The caller owns fd. What the runtime does; exposed for tests and tools.
Result<ReservedSocket> ReservePort(const std::string& host, int port = 0);

// Port a bound socket is bound to (getsockname).
Result<int> BoundPort(int fd);

// Adds a listening port "<bind_host>:<port of reserved_fd>" with insecure credentials to
// `builder`, builds and starts the server, checks it bound that port, then closes
// reserved_fd. reserved_fd is closed on failure too. bind_host "0.0.0.0" serves every IPv4
// address. The builder must have its services registered already.
Result<std::unique_ptr<grpc::Server>> BuildAndStartOnReservedSocket(grpc::ServerBuilder* builder,
                                                                    int reserved_fd,
                                                                    const std::string& bind_host);

}  // namespace tos::train
