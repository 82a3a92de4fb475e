#include "net/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>

namespace tos::net {
namespace {

constexpr size_t kNonceBytes = 32;
constexpr size_t kMacBytes = 32;
constexpr char kMagic[4] = {'T', 'O', 'S', '1'};

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

const char* ChannelName(Channel c) {
  switch (c) {
    case Channel::kReservation:
      return "reservation";
    case Channel::kFeed:
      return "feed";
    case Channel::kKvStore:
      return "kv-store";
  }
  return "unknown";
}

std::string HmacSha256(const std::string& secret, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string GenerateSecret() {
  static const char* hex = "0123456789abcdef";
  std::string raw = RandomBytes(32), out;
  for (unsigned char c : raw) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

Result<std::string> SecretFromEnv() {
  const char* s = std::getenv("TOS_SECRET");
  if (s == nullptr || std::string(s).size() < 16) {
    return InvalidArgument(
        "TOS_SECRET is missing or shorter than 16 characters; nodes get the job secret from "
        "the driver through the environment (never the command line)");
  }
  return std::string(s);
}

Result<Channel> ServerHandshake(const Socket& s, const std::string& secret, Deadline deadline) {
  std::string server_nonce = RandomBytes(kNonceBytes);
  std::string hello(kMagic, 4);
  hello += server_nonce;
  TOS_RETURN_IF_ERROR(WriteFrame(s, FrameType::kHello, hello, deadline));
  TOS_ASSIGN_OR_RETURN(Frame auth, ReadFrame(s, deadline, 1 + kNonceBytes + kMacBytes));
  if (auth.type != FrameType::kAuth || auth.payload.size() != 1 + kNonceBytes + kMacBytes) {
    return PermissionDenied("peer " + s.PeerAddress() + " sent " + FrameTypeName(auth.type) +
                            " instead of an AUTH frame");
  }
  auto channel = static_cast<Channel>(static_cast<uint8_t>(auth.payload[0]));
  std::string client_nonce = auth.payload.substr(1, kNonceBytes);
  std::string mac = auth.payload.substr(1 + kNonceBytes);
  std::string expect =
      HmacSha256(secret, "tos-client" + auth.payload.substr(0, 1) + server_nonce + client_nonce);
  if (!ConstantTimeEqual(mac, expect)) {
    return PermissionDenied("peer " + s.PeerAddress() +
                            " failed authentication (wrong job secret)");
  }
  if (channel != Channel::kReservation && channel != Channel::kFeed &&
      channel != Channel::kKvStore) {
    return PermissionDenied("peer " + s.PeerAddress() + " asked for an unknown channel");
  }
  std::string reply =
      HmacSha256(secret, "tos-server" + auth.payload.substr(0, 1) + client_nonce + server_nonce);
  TOS_RETURN_IF_ERROR(WriteFrame(s, FrameType::kAuthOk, reply, deadline));
  return channel;
}

Status ClientHandshake(const Socket& s, const std::string& secret, Channel channel,
                       Deadline deadline) {
  TOS_ASSIGN_OR_RETURN(Frame hello, ReadFrame(s, deadline, 4 + kNonceBytes));
  if (hello.type != FrameType::kHello || hello.payload.size() != 4 + kNonceBytes ||
      hello.payload.compare(0, 4, kMagic, 4) != 0) {
    return PermissionDenied("server " + s.PeerAddress() +
                            " is not a TorchOnSpark endpoint (bad HELLO)");
  }
  std::string server_nonce = hello.payload.substr(4);
  std::string client_nonce = RandomBytes(kNonceBytes);
  std::string ch(1, static_cast<char>(channel));
  std::string payload =
      ch + client_nonce + HmacSha256(secret, "tos-client" + ch + server_nonce + client_nonce);
  TOS_RETURN_IF_ERROR(WriteFrame(s, FrameType::kAuth, payload, deadline));
  auto ok = ReadFrame(s, deadline, kMacBytes);
  if (!ok.ok()) {
    return PermissionDenied(
        "server " + s.PeerAddress() +
        " rejected authentication (is TOS_SECRET the job's secret?): " + ok.status().message());
  }
  if (ok->type != FrameType::kAuthOk ||
      !ConstantTimeEqual(ok->payload,
                         HmacSha256(secret, "tos-server" + ch + client_nonce + server_nonce))) {
    return PermissionDenied("server " + s.PeerAddress() + " failed mutual authentication");
  }
  return Status::OK();
}

}  // namespace tos::net
