// Mutual HMAC-SHA256 challenge-response run at the start of every connection to every
// TorchOnSpark port (reservation, control, feed). The job secret never crosses the wire.
//
//   server -> HELLO    "TOS1" | server_nonce[32]
//   client -> AUTH     channel[1] | client_nonce[32] | client MAC
//   server -> AUTH_OK  server MAC
//
// where, with sn and cn the two nonces,
//   client MAC = HMAC(secret, "tos-client" | channel | sn | cn)
//   server MAC = HMAC(secret, "tos-server" | channel | cn | sn)
//
// A server that gets anything else (wrong MAC, wrong size, wrong type, silence past the
// deadline) drops the connection. See docs/protocol.md.
#pragma once

#include <string>

#include "net/frame.h"

namespace tos::net {

enum class Channel : uint8_t { kReservation = 1, kFeed = 2, kKvStore = 3 };

const char* ChannelName(Channel c);

// Random 32-byte secret, hex-encoded (64 chars), from OpenSSL's CSPRNG.
std::string GenerateSecret();

// Reads $TOS_SECRET; InvalidArgument with advice if missing or short.
Result<std::string> SecretFromEnv();

// Server side. On success returns the channel the client asked for.
Result<Channel> ServerHandshake(const Socket& s, const std::string& secret, Deadline deadline);

// Client side; also verifies the server knows the secret.
Status ClientHandshake(const Socket& s, const std::string& secret, Channel channel,
                       Deadline deadline);

// HMAC-SHA256(secret, data) as raw 32 bytes.
std::string HmacSha256(const std::string& secret, const std::string& data);

}  // namespace tos::net
