#include "tos/train/kv_store.h"

#include "reservation/client.h"

namespace tos::train {
namespace {

// A lookup of a key that should be there already: the store answers at once or not at all.
constexpr auto kNoWait = std::chrono::milliseconds(1);
std::string ToString(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::vector<uint8_t> ToBytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}
[[noreturn]] void Throw(const Status& st) {
  throw std::runtime_error("rendezvous store: " + st.ToString());
}
}  // namespace

Result<c10::intrusive_ptr<KvStore>> KvStore::Connect(const std::string& address,
                                                     const std::string& secret,
                                                     const std::string& prefix,
                                                     std::chrono::milliseconds timeout) {
  TOS_ASSIGN_OR_RETURN(net::HostPort hp, net::ParseHostPort(address));
  TOS_ASSIGN_OR_RETURN(auto client,
                       reservation::KvClient::Connect(hp, secret, net::After(timeout)));
  auto store = c10::make_intrusive<KvStore>(std::move(client), prefix, timeout);
  store->address_ = address;
  store->secret_ = secret;
  return store;
}

c10::intrusive_ptr<c10d::Store> KvStore::clone() {
  if (address_.empty())
    throw std::runtime_error(
        "rendezvous store: this KvStore was not made by Connect: cannot clone");
  auto again = Connect(address_, secret_, prefix_, timeout_);
  if (!again.ok()) Throw(again.status());
  return *again;
}

KvStore::KvStore(std::unique_ptr<reservation::KvClient> client, std::string prefix,
                 std::chrono::milliseconds timeout)
    : client_(std::move(client)), prefix_(std::move(prefix)) {
  timeout_ = timeout;
}

KvStore::~KvStore() = default;

void KvStore::set(const std::string& key, const std::vector<uint8_t>& value) {
  Status st = client_->Set(prefix_ + key, ToString(value));
  if (!st.ok()) Throw(st);
}

std::vector<uint8_t> KvStore::compareSet(const std::string& key,
                                         const std::vector<uint8_t>& expected,
                                         const std::vector<uint8_t>& desired) {
  // Not used by the collectives here; a plain set keeps the contract for first writers.
  auto current = client_->Get(prefix_ + key, kNoWait);
  if (!current.ok()) {
    if (!expected.empty()) return expected;
    set(key, desired);
    return desired;
  }
  if (ToBytes(*current) == expected) {
    set(key, desired);
    return desired;
  }
  return ToBytes(*current);
}

std::vector<uint8_t> KvStore::get(const std::string& key) {
  auto v = client_->Get(prefix_ + key, timeout_);
  if (!v.ok()) Throw(v.status());
  return ToBytes(*v);
}

int64_t KvStore::add(const std::string& key, int64_t value) {
  auto v = client_->Add(prefix_ + key, value);
  if (!v.ok()) Throw(v.status());
  return *v;
}

bool KvStore::deleteKey(const std::string& key) { return false; }

bool KvStore::check(const std::vector<std::string>& keys) {
  for (auto& k : keys) {
    if (!client_->Get(prefix_ + k, kNoWait).ok()) return false;
  }
  return true;
}

int64_t KvStore::getNumKeys() { return 0; }

void KvStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void KvStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  for (auto& k : keys) {
    auto v = client_->Get(prefix_ + k, timeout);
    if (!v.ok()) Throw(v.status());
  }
}

}  // namespace tos::train
