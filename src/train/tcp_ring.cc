#include "tos/train/tcp_ring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "net/socket.h"
#include "reservation/client.h"

namespace tos::train {
namespace {

// Until the next rank listens, connecting to it is retried this often.
constexpr auto kConnectRetryPause = std::chrono::milliseconds(20);

using Clock = std::chrono::steady_clock;
constexpr uint32_t kHelloMagic = 0x544f5352;  // "TOSR"

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int f = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = f;
  }

 private:
  int fd_;
};

void Tune(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int RemainingMs(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

class TcpRingImpl : public TcpRing {
 public:
  explicit TcpRingImpl(const TcpRingOptions& o) : opts_(o) {}

  int rank() const override { return opts_.rank; }
  int size() const override { return opts_.size; }

  Status Connect(RingRendezvous& store) {
    if (opts_.size == 1) {
      Fd unused(opts_.listen_fd);
      opts_.listen_fd = -1;
      return Status::OK();
    }
    const auto deadline = Clock::now() + opts_.timeout;
    // Listen for the predecessor.
    const bool given = opts_.listen_fd >= 0;
    Fd listener(given ? opts_.listen_fd : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    opts_.listen_fd = -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, opts_.host.c_str(), &addr.sin_addr) != 1) {
      return InvalidArgument("tcp collectives: host must be an IPv4 address, got '" + opts_.host +
                             "'");
    }
    if ((!given && bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ||
        listen(listener.get(), 4) != 0) {
      return ErrnoError(
          "tcp collectives rank " + std::to_string(opts_.rank) + ": listening on " + opts_.host,
          errno);
    }
    socklen_t len = sizeof addr;
    getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string mine = opts_.host + ":" + std::to_string(ntohs(addr.sin_port));
    const int next = (opts_.rank + 1) % opts_.size,
              prev = (opts_.rank + opts_.size - 1) % opts_.size;
    // Each ring made over this store and prefix is a new round, so a second ring (another
    // model, an evaluation ring) never finds the first one's addresses. Every rank creates
    // the same rings in the same order, so their round numbers agree.
    auto failed = [&](const Status& st) {
      return Timeout("tcp collectives rank " + std::to_string(opts_.rank) +
                     ": rendezvous with rank " + std::to_string(next) +
                     " through the store failed: " + st.ToString());
    };
    auto round = store.Add(opts_.store_prefix + "/round/" + std::to_string(opts_.rank), 1);
    if (!round.ok()) return failed(round.status());
    round_ = *round;
    Status set = store.Set(Key(opts_.rank), mine);
    if (!set.ok()) return failed(set);
    auto next_addr = store.Get(Key(next), opts_.timeout);
    if (!next_addr.ok()) return failed(next_addr.status());
    next_addr_ = *next_addr;
    TOS_RETURN_IF_ERROR(ConnectNext(next_addr_, deadline));
    TOS_RETURN_IF_ERROR(AcceptPrev(listener.get(), prev, deadline));
    return Status::OK();
  }

  Status AllreduceSum(float* data, size_t count) override {
    if (opts_.size == 1 || count == 0) return Status::OK();
    const auto deadline = Clock::now() + opts_.timeout;
    const int64_t n = static_cast<int64_t>(count), N = opts_.size, r = opts_.rank;
    auto begin = [&](int64_t c) { return n * ((c % N + N) % N) / N; };
    auto end = [&](int64_t c) { return n * ((c % N + N) % N + 1) / N; };
    if (static_cast<int64_t>(scratch_.size()) < n / N + 1) scratch_.resize(n / N + 1);
    // Reduce-scatter: after N-1 steps rank r owns the full sum of chunk r+1.
    for (int64_t s = 0; s < N - 1; ++s) {
      const int64_t send_c = r - s, recv_c = r - s - 1;
      const int64_t rb = begin(recv_c), re = end(recv_c);
      TOS_RETURN_IF_ERROR(Exchange(data + begin(send_c), (end(send_c) - begin(send_c)) * 4,
                                   scratch_.data(), (re - rb) * 4, deadline, "allreduce"));
      float* dst = data + rb;
      for (int64_t i = 0; i < re - rb; ++i) dst[i] += scratch_[i];
    }
    // Allgather: pass the finished chunks around the ring.
    for (int64_t s = 0; s < N - 1; ++s) {
      const int64_t send_c = r + 1 - s, recv_c = r - s;
      TOS_RETURN_IF_ERROR(Exchange(data + begin(send_c), (end(send_c) - begin(send_c)) * 4,
                                   data + begin(recv_c), (end(recv_c) - begin(recv_c)) * 4,
                                   deadline, "allreduce"));
    }
    return Status::OK();
  }

  Status Broadcast(void* buffer, size_t bytes, int root) override {
    if (opts_.size == 1 || bytes == 0) return Status::OK();
    if (root < 0 || root >= opts_.size)
      return InvalidArgument(Me() + ": broadcast from rank " + std::to_string(root));
    const auto deadline = Clock::now() + opts_.timeout;
    char* data = static_cast<char*>(buffer);
    const int last = (root + opts_.size - 1) % opts_.size;
    if (opts_.rank != root)
      TOS_RETURN_IF_ERROR(Exchange(nullptr, 0, data, bytes, deadline, "broadcast"));
    if (opts_.rank != last)
      TOS_RETURN_IF_ERROR(Exchange(data, bytes, nullptr, 0, deadline, "broadcast"));
    return Status::OK();
  }

  Status Barrier() override {
    float one = 0;
    return AllreduceSum(&one, 1);
  }

 private:
  std::string Key(int rank) const {
    return opts_.store_prefix + "/" + std::to_string(round_) + "/addr/" + std::to_string(rank);
  }
  std::string Me() const {
    return "tcp collectives rank " + std::to_string(opts_.rank) + " of " +
           std::to_string(opts_.size);
  }

  Status ConnectNext(const std::string& address, Clock::time_point deadline) {
    TOS_ASSIGN_OR_RETURN(net::HostPort next, net::ParseHostPort(address));
    while (true) {
      // Each attempt is bounded by the deadline, also against a host that does not answer.
      auto s = net::Connect(next, deadline);
      if (s.ok()) {
        // A rank may rightly stop reading for as long as an operation may take (a checkpoint
        // between steps): the kernel's timers get the ring's timeout, not node_timeout.
        TOS_RETURN_IF_ERROR(net::SetPeerTimeout(*s, opts_.timeout));
        Fd fd(s->Release());
        Tune(fd.get());
        out_ = std::move(fd);
        uint32_t hello[2] = {htonl(kHelloMagic), htonl(static_cast<uint32_t>(opts_.rank))};
        return Exchange(hello, sizeof hello, nullptr, 0, deadline, "hello");
      }
      if (Clock::now() >= deadline) {
        return Timeout(Me() + ": connecting to the next rank at " + address + ": " +
                       s.status().message());
      }
      std::this_thread::sleep_for(kConnectRetryPause);
    }
  }

  Status AcceptPrev(int listener, int prev, Clock::time_point deadline) {
    pollfd p{listener, POLLIN, 0};
    int rc = poll(&p, 1, RemainingMs(deadline));
    if (rc <= 0) return Timeout(Me() + ": rank " + std::to_string(prev) + " never connected");
    Fd fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (fd.get() < 0) return ErrnoError(Me() + ": accept", errno);
    Tune(fd.get());
    TOS_RETURN_IF_ERROR(net::SetPeerTimeout(fd.get(), opts_.timeout));
    in_ = std::move(fd);
    uint32_t hello[2] = {0, 0};
    TOS_RETURN_IF_ERROR(Exchange(nullptr, 0, hello, sizeof hello, deadline, "hello"));
    if (ntohl(hello[0]) != kHelloMagic || static_cast<int>(ntohl(hello[1])) != prev) {
      return Unavailable(Me() + ": unexpected hello from a peer (expected rank " +
                         std::to_string(prev) + ")");
    }
    return Status::OK();
  }

  // Sends `sbytes` to the next rank while receiving `rbytes` from the previous one.
  Status Exchange(const void* send, size_t sbytes, void* recv, size_t rbytes,
                  Clock::time_point deadline, const char* what) {
    const char* sp = static_cast<const char*>(send);
    char* rp = static_cast<char*>(recv);
    size_t sent = 0, got = 0;
    while (sent < sbytes || got < rbytes) {
      if (sent < sbytes) {
        ssize_t k = ::send(out_.get(), sp + sent, sbytes - sent, MSG_NOSIGNAL);
        if (k > 0)
          sent += static_cast<size_t>(k);
        else if (k < 0 && errno != EAGAIN && errno != EINTR)
          return PeerError(what, true, errno);
      }
      if (got < rbytes) {
        ssize_t k = ::recv(in_.get(), rp + got, rbytes - got, 0);
        if (k > 0)
          got += static_cast<size_t>(k);
        else if (k == 0)
          return PeerError(what, false, 0);
        else if (errno != EAGAIN && errno != EINTR)
          return PeerError(what, false, errno);
      }
      if (sent == sbytes && got == rbytes) break;
      pollfd p[2];
      int np = 0;
      if (sent < sbytes) p[np++] = {out_.get(), POLLOUT, 0};
      if (got < rbytes) p[np++] = {in_.get(), POLLIN, 0};
      int rc = poll(p, np, RemainingMs(deadline));
      if (rc == 0) {
        return Timeout(Me() + ": " + what + " timed out after " +
                       std::to_string(opts_.timeout.count()) + " ms waiting for " +
                       (got < rbytes ? "rank " + std::to_string(Prev())
                                     : "rank " + std::to_string(Next()) + " at " + next_addr_));
      }
      if (rc < 0 && errno != EINTR) return ErrnoError(Me() + ": poll", errno);
    }
    return Status::OK();
  }

  int Next() const { return (opts_.rank + 1) % opts_.size; }
  int Prev() const { return (opts_.rank + opts_.size - 1) % opts_.size; }

  Status PeerError(const char* what, bool sending, int err) {
    std::string peer = sending ? "rank " + std::to_string(Next()) + " at " + next_addr_
                               : "rank " + std::to_string(Prev());
    std::string why = err == 0 ? "connection closed" : StrError(err);
    return Unavailable(Me() + ": " + what + ": " + peer + " is gone (" + why + ")");
  }

  TcpRingOptions opts_;
  Fd out_, in_;
  int64_t round_ = 0;
  std::string next_addr_;
  std::vector<float> scratch_;
};

// The driver's key-value store as a ring's rendezvous.
class JobStore : public RingRendezvous {
 public:
  JobStore(std::unique_ptr<reservation::KvClient> c, std::string prefix)
      : client_(std::move(c)), prefix_(std::move(prefix)) {}
  Result<int64_t> Add(const std::string& key, int64_t delta) override {
    std::lock_guard<std::mutex> lock(mu_);
    return client_->Add(prefix_ + key, delta);
  }
  Status Set(const std::string& key, const std::string& value) override {
    std::lock_guard<std::mutex> lock(mu_);
    return client_->Set(prefix_ + key, value);
  }
  Result<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mu_);
    return client_->Get(prefix_ + key, timeout);
  }

 private:
  std::mutex mu_;
  std::unique_ptr<reservation::KvClient> client_;
  std::string prefix_;
};

}  // namespace

Result<std::unique_ptr<RingRendezvous>> ConnectJobStore(const std::string& address,
                                                        const std::string& secret,
                                                        const std::string& prefix,
                                                        std::chrono::milliseconds timeout) {
  TOS_ASSIGN_OR_RETURN(net::HostPort hp, net::ParseHostPort(address));
  TOS_ASSIGN_OR_RETURN(auto client,
                       reservation::KvClient::Connect(hp, secret, net::After(timeout)));
  return std::unique_ptr<RingRendezvous>(std::make_unique<JobStore>(std::move(client), prefix));
}

Result<std::unique_ptr<TcpRing>> TcpRing::Connect(RingRendezvous& store,
                                                  const TcpRingOptions& options) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    Fd unused(options.listen_fd);
    return InvalidArgument("tcp collectives: rank " + std::to_string(options.rank) + " of " +
                           std::to_string(options.size));
  }
  auto ring = std::make_unique<TcpRingImpl>(options);
  TOS_RETURN_IF_ERROR(ring->Connect(store));
  return std::unique_ptr<TcpRing>(std::move(ring));
}

std::vector<Bucket> PlanBuckets(const std::vector<int64_t>& numels, size_t cap_bytes) {
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(cap_bytes / sizeof(float)));
  std::vector<Bucket> out;
  Bucket current;
  for (size_t i = 0; i < numels.size(); ++i) {
    if (current.numel > 0 && current.numel + numels[i] > cap) {
      out.push_back(std::move(current));
      current = Bucket();
    }
    current.members.push_back(i);
    current.offsets.push_back(current.numel);
    current.numel += numels[i];
  }
  if (!current.members.empty()) out.push_back(std::move(current));
  return out;
}

Result<std::unique_ptr<BufferAllreducer>> BufferAllreducer::Create(TcpRing* ring,
                                                                   std::vector<float*> params,
                                                                   std::vector<int64_t> numels,
                                                                   size_t bucket_cap_bytes) {
  if (ring == nullptr) return InvalidArgument("BufferAllreducer: no ring");
  if (params.size() != numels.size())
    return InvalidArgument("BufferAllreducer: " + std::to_string(params.size()) + " parameters, " +
                           std::to_string(numels.size()) + " sizes");
  std::unique_ptr<BufferAllreducer> ar(new BufferAllreducer());
  ar->ring_ = ring;
  ar->buckets_ = PlanBuckets(numels, bucket_cap_bytes);
  int64_t largest = 0;
  for (const Bucket& b : ar->buckets_) largest = std::max(largest, b.numel);
  ar->flat_.resize(static_cast<size_t>(largest));
  ar->params_ = std::move(params);
  ar->numels_ = std::move(numels);
  return ar;
}

Status BufferAllreducer::ForEachBucket(const std::vector<float*>& arrays, bool average, int root) {
  const float scale = 1.0f / static_cast<float>(ring_->size());
  float* flat = flat_.data();
  for (const Bucket& b : buckets_) {
    for (size_t k = 0; k < b.members.size(); ++k) {
      const size_t i = b.members[k];
      std::memcpy(flat + b.offsets[k], arrays[i], numels_[i] * sizeof(float));
    }
    if (average) {
      if (ring_->size() > 1) {
        TOS_RETURN_IF_ERROR(ring_->AllreduceSum(flat, static_cast<size_t>(b.numel))
                                .WithContext("averaging gradients"));
        for (int64_t i = 0; i < b.numel; ++i) flat[i] *= scale;
      }
    } else {
      TOS_RETURN_IF_ERROR(ring_->Broadcast(flat, b.numel * sizeof(float), root)
                              .WithContext("broadcasting initial parameters"));
    }
    for (size_t k = 0; k < b.members.size(); ++k) {
      const size_t i = b.members[k];
      std::memcpy(arrays[i], flat + b.offsets[k], numels_[i] * sizeof(float));
    }
  }
  return Status::OK();
}

Status BufferAllreducer::BroadcastParameters(int root) {
  return ForEachBucket(params_, /*average=*/false, root);
}

Status BufferAllreducer::AverageGradients(const std::vector<float*>& grads) {
  if (grads.size() != params_.size()) {
    return InvalidArgument("BufferAllreducer: " + std::to_string(grads.size()) + " gradients for " +
                           std::to_string(params_.size()) + " parameters");
  }
  return ForEachBucket(grads, /*average=*/true, /*root=*/0);
}

}  // namespace tos::train
