#include "tos/train/tcp_collectives.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "net/socket.h"
#include "tos/train/kv_store.h"

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

class TcpCollectives : public Collectives {
 public:
  TcpCollectives(const TcpCollectivesOptions& o) : opts_(o) {}

  int rank() const override { return opts_.rank; }
  int size() const override { return opts_.size; }

  Status Connect(const c10::intrusive_ptr<c10d::Store>& store) {
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
    std::string next_addr;
    try {
      // Each ring made over this store and prefix is a new round, so a second ring (another
      // model, an evaluation ring) never finds the first one's addresses. Every rank creates
      // the same rings in the same order, so their round numbers agree.
      round_ = store->add(opts_.store_prefix + "/round/" + std::to_string(opts_.rank), 1);
      store->set(Key(opts_.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
      store->wait({Key(next)}, opts_.timeout);
      auto v = store->get(Key(next));
      next_addr.assign(v.begin(), v.end());
    } catch (const std::exception& e) {
      return Timeout("tcp collectives rank " + std::to_string(opts_.rank) +
                     ": rendezvous with rank " + std::to_string(next) +
                     " through the store failed: " + e.what());
    }
    next_addr_ = next_addr;
    TOS_RETURN_IF_ERROR(ConnectNext(next_addr, deadline));
    TOS_RETURN_IF_ERROR(AcceptPrev(listener.get(), prev, deadline));
    return Status::OK();
  }

  Status AllreduceSum(torch::Tensor& tensor) override {
    if (opts_.size == 1) return Status::OK();
    if (tensor.scalar_type() != torch::kFloat32 || !tensor.is_contiguous()) {
      return InvalidArgument("tcp collectives: allreduce needs a contiguous float32 tensor");
    }
    const auto deadline = Clock::now() + opts_.timeout;
    float* data = tensor.data_ptr<float>();
    const int64_t n = tensor.numel(), N = opts_.size, r = opts_.rank;
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

  Status Broadcast(torch::Tensor& tensor, int root) override {
    if (opts_.size == 1) return Status::OK();
    if (!tensor.is_contiguous())
      return InvalidArgument("tcp collectives: broadcast needs a contiguous tensor");
    const auto deadline = Clock::now() + opts_.timeout;
    const size_t bytes = tensor.numel() * tensor.element_size();
    char* data = static_cast<char*>(tensor.data_ptr());
    const int last = (root + opts_.size - 1) % opts_.size;
    if (opts_.rank != root)
      TOS_RETURN_IF_ERROR(Exchange(nullptr, 0, data, bytes, deadline, "broadcast"));
    if (opts_.rank != last)
      TOS_RETURN_IF_ERROR(Exchange(data, bytes, nullptr, 0, deadline, "broadcast"));
    return Status::OK();
  }

  Status Barrier() override {
    torch::Tensor t = torch::zeros({1}, torch::kFloat32);
    return AllreduceSum(t);
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

  TcpCollectivesOptions opts_;
  Fd out_, in_;
  int64_t round_ = 0;
  std::string next_addr_;
  std::vector<float> scratch_;
};

}  // namespace

Result<std::unique_ptr<Collectives>> CreateTcpCollectives(
    const c10::intrusive_ptr<c10d::Store>& store, const TcpCollectivesOptions& options) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    Fd unused(options.listen_fd);
    return InvalidArgument("tcp collectives: rank " + std::to_string(options.rank) + " of " +
                           std::to_string(options.size));
  }
  auto c = std::make_unique<TcpCollectives>(options);
  TOS_RETURN_IF_ERROR(c->Connect(store));
  return std::unique_ptr<Collectives>(std::move(c));
}

Result<std::unique_ptr<Collectives>> ConnectTrainers(Context& ctx, const std::string& name,
                                                     std::chrono::milliseconds timeout) {
  if (ctx.worker_index() < 0) {
    return InvalidArgument(ctx.job_name() + ":" + std::to_string(ctx.task_index()) +
                           " is not a trainer: only the chief and workers join the trainers' ring");
  }
  TOS_ASSIGN_OR_RETURN(
      auto store, KvStore::Connect(ctx.reservation_address(), ctx.secret(), name + "/", timeout));
  TcpCollectivesOptions o;
  o.rank = ctx.worker_index();
  o.size = ctx.num_workers();
  o.host = ctx.reserved_port().host();
  o.listen_fd = ctx.reserved_port().TakeFd();
  o.timeout = timeout;
  return CreateTcpCollectives(store, o);
}

}  // namespace tos::train
