#include "train/ps_auth.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace tos::train {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Metadata(const grpc::ServerContext& ctx, const char* key) {
  auto it = ctx.client_metadata().find(key);
  if (it == ctx.client_metadata().end()) return {};
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return Hex(mac, len);
}

std::string AuthMessage(std::string_view method, std::string_view ts, std::string_view nonce) {
  std::string m;
  m.reserve(method.size() + ts.size() + nonce.size() + 2);
  m.append(method).append("\n").append(ts).append("\n").append(nonce);
  return m;
}

void AddAuthMetadata(grpc::ClientContext* ctx, const std::string& secret, std::string_view method) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    // Falls back to a clock-derived nonce; still unique per call within the window.
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (size_t i = 0; i < sizeof raw; ++i) raw[i] = static_cast<unsigned char>(t >> (8 * (i % 8)));
  }
  std::string nonce = Hex(raw, sizeof raw);
  std::string ts = std::to_string(NowSeconds());
  ctx->AddMetadata(kAuthHeader, HmacSha256Hex(secret, AuthMessage(method, ts, nonce)));
  ctx->AddMetadata(kAuthTsHeader, ts);
  ctx->AddMetadata(kAuthNonceHeader, nonce);
}

grpc::Status AuthVerifier::Check(const grpc::ServerContext& ctx, std::string_view method) {
  std::string mac = Metadata(ctx, kAuthHeader);
  std::string ts = Metadata(ctx, kAuthTsHeader);
  std::string nonce = Metadata(ctx, kAuthNonceHeader);
  if (mac.empty() || ts.empty() || nonce.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing x-tos-auth token");
  }
  std::string expected = HmacSha256Hex(secret_, AuthMessage(method, ts, nonce));
  if (mac.size() != expected.size() ||
      CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad x-tos-auth token (wrong secret?)");
  }
  int64_t t = 0;
  try {
    t = std::stoll(ts);
  } catch (...) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad x-tos-ts");
  }
  int64_t now = NowSeconds();
  if (t < now - window_s_ || t > now + window_s_) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "x-tos-ts outside the accepted window (clock skew?)");
  }
  Nonce n{0, 0};
  if (nonce.size() != 32)
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "x-tos-nonce must be 32 hex digits");
  for (size_t i = 0; i < 32; ++i) {
    const char c = nonce[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0)
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "x-tos-nonce must be 32 lowercase hex digits");
    uint64_t& half = i < 16 ? n.hi : n.lo;
    half = (half << 4) | static_cast<uint64_t>(v);
  }
  if (!RememberNonce(n, t, now)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "replayed x-tos-nonce");
  }
  return grpc::Status::OK;
}

bool AuthVerifier::RememberNonce(const Nonce& nonce, int64_t ts, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  // A nonce can be forgotten once its ts is out of the window: the ts check rejects it then.
  // Entries are appended in arrival order, so expiries are only roughly sorted; an entry
  // behind a later expiry waits for it (at most 2*window).
  while (!expiry_order_.empty() && expiry_order_.front().first < now) {
    nonces_.erase(expiry_order_.front().second);
    expiry_order_.pop_front();
  }
  if (!nonces_.insert(nonce).second) return false;
  expiry_order_.emplace_back(ts + window_s_, nonce);
  return true;
}

}  // namespace tos::train
