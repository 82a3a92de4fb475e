// The HMAC handshake (src/net/auth.cc) against a peer that sends the fuzz input: the server
// side (reads AUTH after sending HELLO) or the client side (reads HELLO, sends AUTH, reads
// AUTH_OK), picked by the first byte. The peer does not know the secret and the nonces are
// fresh, so neither side may ever report success.
#include <chrono>

#include "fuzz_util.h"
#include "net/auth.h"
#include "net_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  tos::fuzz::FedSocket s;
  if (!s.Feed(data + 1, size - 1)) return 0;
  static const std::string secret = "fuzz-secret-0123456789abcdef";
  const auto deadline = tos::net::After(std::chrono::seconds(5));
  if (data[0] & 1) {
    auto ch = tos::net::ServerHandshake(s.ours, secret, deadline);
    if (ch.ok()) __builtin_trap();
  } else {
    auto st = tos::net::ClientHandshake(s.ours, secret, tos::net::Channel::kFeed, deadline);
    if (st.ok()) __builtin_trap();
  }
  return 0;
}
