#include "tos/train/grpc_handover.h"

#include <arpa/inet.h>
#include <grpcpp/security/server_credentials.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tos::train {

Result<ReservedSocket> ReservePort(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("ReservePort: not an IPv4 address: '" + host + "'");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("ReservePort: socket", errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return ErrnoError("ReservePort: setsockopt SO_REUSEPORT", err);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return ErrnoError("ReservePort: bind " + host + ":" + std::to_string(port), err);
  }
  auto p = BoundPort(fd);
  if (!p.ok()) {
    close(fd);
    return p.status();
  }
  return ReservedSocket{fd, *p};
}

Result<int> BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return ErrnoError("getsockname on fd " + std::to_string(fd), errno);
  }
  if (ss.ss_family == AF_INET)
    return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port));
  if (ss.ss_family == AF_INET6)
    return static_cast<int>(ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port));
  return InvalidArgument("fd " + std::to_string(fd) + " is not an IP socket");
}

Result<std::unique_ptr<grpc::Server>> BuildAndStartOnReservedSocket(grpc::ServerBuilder* builder,
                                                                    int reserved_fd,
                                                                    const std::string& bind_host) {
  auto port = BoundPort(reserved_fd);
  if (!port.ok()) {
    close(reserved_fd);
    return port.status();
  }
  std::string address = bind_host + ":" + std::to_string(*port);
  int selected = 0;
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 1);
  builder->AddListeningPort(address, grpc::InsecureServerCredentials(), &selected);
  std::unique_ptr<grpc::Server> server = builder->BuildAndStart();
  if (server == nullptr || selected != *port) {
    if (server != nullptr) server->Shutdown();
    close(reserved_fd);
    return Unavailable("gRPC server could not bind reserved port " + address +
                       " (is SO_REUSEPORT set on the reserved socket, by the same user?)");
  }
  close(reserved_fd);  // the server's own socket now holds the port
  return server;
}

}  // namespace tos::train
