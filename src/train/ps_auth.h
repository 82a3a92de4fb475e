// HMAC-SHA256 call tokens of the parameter-server protocol (docs/training.md, "Authentication").
//
// Each call carries metadata
//   x-tos-ts     decimal Unix time in seconds at the caller
//   x-tos-nonce  32 lowercase hex digits, random per call
//   x-tos-auth   lowercase hex of HMAC-SHA256(secret, method "\n" ts "\n" nonce)
// where method is the full gRPC method name, e.g. "/tos.ps.ParameterServer/Push".
// The server accepts a token when the HMAC matches, |now - ts| <= window, and the nonce has
// not been seen while its ts is within the window (replay guard; memory is bounded by the
// call rate times 2*window, 16 bytes of nonce + bookkeeping per call).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace grpc {
class ClientContext;
class ServerContext;
class Status;
}  // namespace grpc

namespace tos::train {

inline constexpr const char* kAuthHeader = "x-tos-auth";
inline constexpr const char* kAuthTsHeader = "x-tos-ts";
inline constexpr const char* kAuthNonceHeader = "x-tos-nonce";
inline constexpr int64_t kAuthWindowSeconds = 120;

std::string HmacSha256Hex(std::string_view key, std::string_view message);
std::string AuthMessage(std::string_view method, std::string_view ts, std::string_view nonce);

// Adds the three metadata entries to a client call.
void AddAuthMetadata(grpc::ClientContext* ctx, const std::string& secret, std::string_view method);

class AuthVerifier {
 public:
  explicit AuthVerifier(std::string secret, int64_t window_s = kAuthWindowSeconds)
      : secret_(std::move(secret)), window_s_(window_s) {}
  // OK or UNAUTHENTICATED with the reason. Thread-safe.
  grpc::Status Check(const grpc::ServerContext& ctx, std::string_view method);

 private:
  struct Nonce {
    uint64_t hi, lo;
    bool operator==(const Nonce& o) const { return hi == o.hi && lo == o.lo; }
  };
  struct NonceHash {
    size_t operator()(const Nonce& n) const {
      return static_cast<size_t>(n.hi ^ (n.lo * 0x9e3779b97f4a7c15ull));
    }
  };
  bool RememberNonce(const Nonce& nonce, int64_t ts, int64_t now);

  std::string secret_;
  int64_t window_s_;
  std::mutex mu_;
  std::deque<std::pair<int64_t, Nonce>> expiry_order_;  // (ts + window, nonce), roughly by time
  std::unordered_set<Nonce, NonceHash> nonces_;
};

}  // namespace tos::train
