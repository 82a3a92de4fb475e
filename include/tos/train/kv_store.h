// A c10d::Store backed by the driver's rendezvous key-value store (docs/protocol.md, channel
// kv-store): collectives rendezvous through the already-authenticated driver instead of a
// port of their own. Thread-safe (one connection, calls serialised).
#pragma once

#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "tos/status.h"

namespace tos::reservation {
class KvClient;
}

namespace tos::train {

class KvStore : public c10d::Store {
 public:
  // `address` is "host:port" of the reservation server (Context::reservation_address()).
  static Result<c10::intrusive_ptr<KvStore>> Connect(const std::string& address,
                                                     const std::string& secret,
                                                     const std::string& prefix,
                                                     std::chrono::milliseconds timeout);
  explicit KvStore(std::unique_ptr<reservation::KvClient> client, std::string prefix,
                   std::chrono::milliseconds timeout);
  ~KvStore() override;

  // A second connection to the same store and prefix (c10d's process groups ask for one).
  // Made by Connect only; a KvStore built from a client of its own cannot clone and throws.
  c10::intrusive_ptr<c10d::Store> clone() override;

  void set(const std::string& key, const std::vector<uint8_t>& value) override;
  std::vector<uint8_t> compareSet(const std::string& key, const std::vector<uint8_t>& expected,
                                  const std::vector<uint8_t>& desired) override;
  std::vector<uint8_t> get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t value) override;
  bool deleteKey(const std::string& key) override;
  bool check(const std::vector<std::string>& keys) override;
  int64_t getNumKeys() override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  std::unique_ptr<reservation::KvClient> client_;
  std::string prefix_;
  std::string address_, secret_;  // for clone(), when made by Connect
};

}  // namespace tos::train
