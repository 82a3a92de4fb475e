#include "tos/train/tcp_collectives.h"

namespace tos::train {
namespace {

// A c10d::Store (which reports failures by throwing) as a ring's rendezvous.
class C10dRendezvous : public RingRendezvous {
 public:
  explicit C10dRendezvous(c10::intrusive_ptr<c10d::Store> store) : store_(std::move(store)) {}
  Result<int64_t> Add(const std::string& key, int64_t delta) override {
    try {
      return store_->add(key, delta);
    } catch (const std::exception& e) {
      return Unavailable(std::string("store add '") + key + "': " + e.what());
    }
  }
  Status Set(const std::string& key, const std::string& value) override {
    try {
      store_->set(key, std::vector<uint8_t>(value.begin(), value.end()));
      return Status::OK();
    } catch (const std::exception& e) {
      return Unavailable(std::string("store set '") + key + "': " + e.what());
    }
  }
  Result<std::string> Get(const std::string& key, std::chrono::milliseconds timeout) override {
    try {
      store_->wait({key}, timeout);
      auto v = store_->get(key);
      return std::string(v.begin(), v.end());
    } catch (const std::exception& e) {
      return Timeout(std::string("store get '") + key + "': " + e.what());
    }
  }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
};

// The libtorch face of the ring: contiguous CPU tensors in, the ring's buffers underneath.
class TcpCollectives : public Collectives {
 public:
  explicit TcpCollectives(std::unique_ptr<TcpRing> ring) : ring_(std::move(ring)) {}
  int rank() const override { return ring_->rank(); }
  int size() const override { return ring_->size(); }
  Status AllreduceSum(torch::Tensor& tensor) override {
    if (tensor.scalar_type() != torch::kFloat32 || !tensor.is_contiguous() ||
        !tensor.device().is_cpu()) {
      return InvalidArgument("tcp collectives: allreduce needs a contiguous float32 CPU tensor");
    }
    return ring_->AllreduceSum(tensor.data_ptr<float>(), static_cast<size_t>(tensor.numel()));
  }
  Status Broadcast(torch::Tensor& tensor, int root) override {
    if (!tensor.is_contiguous() || !tensor.device().is_cpu())
      return InvalidArgument("tcp collectives: broadcast needs a contiguous CPU tensor");
    return ring_->Broadcast(tensor.data_ptr(), tensor.numel() * tensor.element_size(), root);
  }
  Status Barrier() override { return ring_->Barrier(); }

 private:
  std::unique_ptr<TcpRing> ring_;
};

}  // namespace

Result<std::unique_ptr<Collectives>> CreateTcpCollectives(
    const c10::intrusive_ptr<c10d::Store>& store, const TcpCollectivesOptions& options) {
  C10dRendezvous rendezvous(store);
  TOS_ASSIGN_OR_RETURN(auto ring, TcpRing::Connect(rendezvous, options));
  return std::unique_ptr<Collectives>(std::make_unique<TcpCollectives>(std::move(ring)));
}

Result<std::unique_ptr<Collectives>> ConnectTrainers(Context& ctx, const std::string& name,
                                                     std::chrono::milliseconds timeout) {
  if (ctx.worker_index() < 0) {
    return InvalidArgument(ctx.job_name() + ":" + std::to_string(ctx.task_index()) +
                           " is not a trainer: only the chief and workers join the trainers' ring");
  }
  TOS_ASSIGN_OR_RETURN(
      auto store, ConnectJobStore(ctx.reservation_address(), ctx.secret(), name + "/", timeout));
  TcpRingOptions o;
  o.rank = ctx.worker_index();
  o.size = ctx.num_workers();
  o.host = ctx.reserved_port().host();
  o.listen_fd = ctx.reserved_port().TakeFd();
  o.timeout = timeout;
  TOS_ASSIGN_OR_RETURN(auto ring, TcpRing::Connect(*store, o));
  return std::unique_ptr<Collectives>(std::make_unique<TcpCollectives>(std::move(ring)));
}

}  // namespace tos::train
