#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "ps.grpc.pb.h"
#include "tos/train/grpc_handover.h"
#include "tos/train/ps.h"
#include "train/ps_auth.h"
#include "train/ps_optimizer.h"
#include "train/ps_proto.h"

namespace tos::train {
namespace {

constexpr char kInit[] = "/tos.ps.ParameterServer/Init";
constexpr char kPull[] = "/tos.ps.ParameterServer/Pull";
constexpr char kPush[] = "/tos.ps.ParameterServer/Push";
constexpr char kGetState[] = "/tos.ps.ParameterServer/GetState";
constexpr char kStop[] = "/tos.ps.ParameterServer/Stop";
constexpr char kLeave[] = "/tos.ps.ParameterServer/Leave";

struct Variable {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> value;
  std::vector<std::vector<float>> slots;  // SlotNames(spec) order
  std::vector<float> sync_sum;            // synchronous mode: gradients of the current round
};

void ToProto(const std::string& name, const std::vector<int64_t>& shape, const float* data,
             int64_t n, ps::Tensor* t) {
  t->set_name(name);
  t->mutable_shape()->Assign(shape.begin(), shape.end());
  t->mutable_data()->assign(reinterpret_cast<const char*>(data), n * sizeof(float));
}

int64_t Numel(const ps::Tensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape()) n *= d;
  return n;
}

grpc::Status Invalid(const std::string& m) { return {grpc::StatusCode::INVALID_ARGUMENT, m}; }

class PsServerImpl;

int64_t AuthWindowSeconds(const PsServerOptions& o) {
  if (o.auth_window.count() > 0) return o.auth_window.count();
  int64_t window = kAuthWindowSeconds;
  if (const char* t = std::getenv("TOS_NODE_TIMEOUT_MS"); t && *t) {
    window = std::max<int64_t>(window, std::atoll(t) / 1000 + 60);
  }
  return window;
}

class PsService final : public ps::ParameterServer::Service {
 public:
  PsService(const PsServerOptions& o, PsServerImpl* owner)
      : opts_(o),
        auth_(o.secret, AuthWindowSeconds(o)),
        owner_(owner),
        worker_in_round_(std::max(o.num_workers, 0), false),
        departed_(std::max(o.num_workers, 0), false) {}

  grpc::Status Init(grpc::ServerContext* ctx, const ps::InitRequest* req,
                    ps::InitResponse* resp) override;
  grpc::Status Pull(grpc::ServerContext* ctx, const ps::PullRequest* req,
                    ps::PullResponse* resp) override;
  grpc::Status Push(grpc::ServerContext* ctx, const ps::PushRequest* req,
                    ps::PushResponse* resp) override;
  grpc::Status GetState(grpc::ServerContext* ctx, const ps::GetStateRequest* req,
                        ps::GetStateResponse* resp) override;
  grpc::Status Leave(grpc::ServerContext* ctx, const ps::LeaveRequest* req,
                     ps::LeaveResponse* resp) override;
  grpc::Status Stop(grpc::ServerContext* ctx, const ps::StopRequest*, ps::StopResponse*) override;

  void Abort() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    round_cv_.notify_all();
  }
  int64_t global_step() const { return global_step_.load(); }
  int pushes_waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (bool in : worker_in_round_) n += in ? 1 : 0;
    return n;
  }

 private:
  grpc::Status CheckShard(int32_t shard) const {
    if (shard != opts_.shard) {
      return Invalid("request for shard " + std::to_string(shard) + " reached ps shard " +
                     std::to_string(opts_.shard));
    }
    return grpc::Status::OK;
  }
  // Returns the index of every grad in vars_, or an error; caller holds mu_.
  grpc::Status MatchGrads(const ps::PushRequest& req, std::vector<const float*>* grads);
  void ApplyAll(const std::vector<const float*>& grads, float scale);
  void CompleteRoundLocked();  // applies the averaged gradients of this synchronous round
  int ActiveWorkers() const;   // workers that have not left; caller holds mu_
  void WriteParams(google::protobuf::RepeatedPtrField<ps::Tensor>* out) const;

  const PsServerOptions opts_;
  AuthVerifier auth_;
  PsServerImpl* owner_;

  mutable std::mutex mu_;
  std::condition_variable round_cv_;
  bool initialized_ = false;
  bool stopping_ = false;
  OptimizerSpec spec_;
  std::vector<Variable> vars_;
  std::unordered_map<std::string, size_t> index_;
  std::atomic<int64_t> global_step_{0};
  // Synchronous mode.
  int64_t round_ = 0;
  int contributed_ = 0;
  std::vector<bool> worker_in_round_;
  std::vector<bool> departed_;  // workers that called Leave
};

class PsServerImpl : public PsServer {
 public:
  explicit PsServerImpl(const PsServerOptions& o) : opts_(o), service_(o, this) {}
  ~PsServerImpl() override {
    Stop();
    if (stopper_.joinable()) stopper_.join();
  }

  Status Begin() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    // Tensors are large messages: a wide HTTP/2 window and big socket reads avoid round trips.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 20);
    builder.AddChannelArgument(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, 1 << 20);
    builder.AddChannelArgument(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 16 << 20);
    builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, 4 << 20);
    int fd = opts_.reserved_fd;
    if (fd < 0) {
      auto r = ReservePort(opts_.bind_host, opts_.port);
      if (!r.ok()) return r.status().WithContext("ps shard " + std::to_string(opts_.shard));
      fd = r->fd;
    }
    auto port = BoundPort(fd);
    if (port.ok()) port_ = *port;
    auto server = BuildAndStartOnReservedSocket(&builder, fd, opts_.bind_host);
    if (!server.ok()) return server.status().WithContext("ps shard " + std::to_string(opts_.shard));
    server_ = std::move(server).value();
    stopper_ = std::thread([this] { StopperLoop(); });
    return Status::OK();
  }

  int port() const override { return port_; }
  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
    cv_.notify_all();
  }
  Status Wait(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return stopped_; })) {
      return Timeout("ps shard " + std::to_string(opts_.shard) + " on port " +
                     std::to_string(port_) + " still running after " +
                     std::to_string(timeout.count()) + " ms");
    }
    return Status::OK();
  }
  int64_t global_step() const override { return service_.global_step(); }
  int pushes_waiting() const override { return service_.pushes_waiting(); }

 private:
  void StopperLoop() {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Serves until asked to stop (a Stop RPC, Stop() on the driver's STOP, or destruction);
      // a job that fails kills or stops this node through its control channel.
      cv_.wait(lock, [this] { return stop_requested_; });
    }
    service_.Abort();
    server_->Shutdown(std::chrono::system_clock::now() + opts_.stop_grace);
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

  const PsServerOptions opts_;
  PsService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread stopper_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool stopped_ = false;
};

grpc::Status PsService::Init(grpc::ServerContext* ctx, const ps::InitRequest* req,
                             ps::InitResponse* resp) {
  if (auto s = auth_.Check(*ctx, kInit); !s.ok()) return s;
  if (auto s = CheckShard(req->shard()); !s.ok()) return s;
  if (req->num_shards() != opts_.num_shards) {
    return Invalid("Init for " + std::to_string(req->num_shards()) + " shards, ps started with " +
                   std::to_string(opts_.num_shards));
  }
  OptimizerSpec spec;
  spec = SpecFromProto(req->optimizer());
  if (Status s = ValidateOptimizerSpec(spec); !s.ok()) return Invalid(s.message());

  std::lock_guard<std::mutex> lock(mu_);
  resp->set_global_step(global_step_.load());
  if (initialized_) {
    resp->set_initialized_now(false);
    return grpc::Status::OK;
  }
  std::vector<Variable> vars;
  std::unordered_map<std::string, size_t> index;
  const auto slot_names = SlotNames(spec);
  for (const ps::Tensor& t : req->params()) {
    int64_t n = Numel(t);
    if (static_cast<int64_t>(t.data().size()) != n * 4) {
      return Invalid("Init: parameter '" + t.name() + "' has " + std::to_string(t.data().size()) +
                     " bytes, shape wants " + std::to_string(n * 4));
    }
    if (!index.emplace(t.name(), vars.size()).second)
      return Invalid("Init: duplicate parameter '" + t.name() + "'");
    Variable v;
    v.name = t.name();
    v.shape.assign(t.shape().begin(), t.shape().end());
    v.value.resize(n);
    std::memcpy(v.value.data(), t.data().data(), n * 4);
    for (const auto& slot : slot_names) v.slots.push_back(InitialSlot(spec, slot, n));
    if (opts_.synchronous) v.sync_sum.assign(n, 0.0f);
    vars.push_back(std::move(v));
  }
  for (const ps::Tensor& t : req->slots()) {
    auto slash = t.name().rfind('/');
    auto it = slash == std::string::npos ? index.end() : index.find(t.name().substr(0, slash));
    if (it == index.end())
      return Invalid("Init: slot '" + t.name() + "' names no parameter of this shard");
    std::string slot = t.name().substr(slash + 1);
    size_t k = 0;
    while (k < slot_names.size() && slot_names[k] != slot) ++k;
    if (k == slot_names.size())
      return Invalid("Init: slot '" + slot + "' is not used by " + spec.type);
    Variable& v = vars[it->second];
    int64_t n = SlotSize(slot, static_cast<int64_t>(v.value.size()));
    if (static_cast<int64_t>(t.data().size()) != n * 4)
      return Invalid("Init: slot '" + t.name() + "' has the wrong size");
    std::memcpy(v.slots[k].data(), t.data().data(), n * 4);
  }
  vars_ = std::move(vars);
  index_ = std::move(index);
  spec_ = spec;
  global_step_ = req->global_step();
  initialized_ = true;
  resp->set_initialized_now(true);
  resp->set_global_step(global_step_.load());
  return grpc::Status::OK;
}

void PsService::WriteParams(google::protobuf::RepeatedPtrField<ps::Tensor>* out) const {
  out->Reserve(static_cast<int>(vars_.size()));
  for (const Variable& v : vars_)
    ToProto(v.name, v.shape, v.value.data(), v.value.size(), out->Add());
}

grpc::Status PsService::Pull(grpc::ServerContext* ctx, const ps::PullRequest* req,
                             ps::PullResponse* resp) {
  if (auto s = auth_.Check(*ctx, kPull); !s.ok()) return s;
  if (auto s = CheckShard(req->shard()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  resp->set_initialized(initialized_);
  resp->set_global_step(global_step_.load());
  if (initialized_) WriteParams(resp->mutable_params());
  return grpc::Status::OK;
}

grpc::Status PsService::MatchGrads(const ps::PushRequest& req, std::vector<const float*>* grads) {
  if (!initialized_) return {grpc::StatusCode::FAILED_PRECONDITION, "Push before Init"};
  if (req.grads_size() != static_cast<int>(vars_.size())) {
    return Invalid("Push carries " + std::to_string(req.grads_size()) + " gradients, shard has " +
                   std::to_string(vars_.size()) + " parameters");
  }
  grads->assign(vars_.size(), nullptr);
  for (const ps::Tensor& g : req.grads()) {
    auto it = index_.find(g.name());
    if (it == index_.end()) return Invalid("Push: unknown parameter '" + g.name() + "'");
    const Variable& v = vars_[it->second];
    if (g.data().size() != v.value.size() * 4)
      return Invalid("Push: gradient '" + g.name() + "' has the wrong size");
    (*grads)[it->second] = reinterpret_cast<const float*>(g.data().data());
  }
  for (const float* p : *grads) {
    if (p == nullptr) return Invalid("Push: a parameter's gradient appears twice");
  }
  return grpc::Status::OK;
}

void PsService::ApplyAll(const std::vector<const float*>& grads, float scale) {
  for (size_t i = 0; i < vars_.size(); ++i) {
    Variable& v = vars_[i];
    ApplyUpdate(spec_, v.value.data(), grads[i], scale, static_cast<int64_t>(v.value.size()),
                &v.slots);
  }
}

grpc::Status PsService::Push(grpc::ServerContext* ctx, const ps::PushRequest* req,
                             ps::PushResponse* resp) {
  if (auto s = auth_.Check(*ctx, kPush); !s.ok()) return s;
  if (auto s = CheckShard(req->shard()); !s.ok()) return s;
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return {grpc::StatusCode::ABORTED, "ps is stopping"};
  std::vector<const float*> grads;
  if (auto s = MatchGrads(*req, &grads); !s.ok()) return s;

  if (!opts_.synchronous) {
    ApplyAll(grads, 1.0f);
    ++global_step_;
  } else {
    int w = req->worker();
    if (w < 0 || w >= opts_.num_workers) {
      return Invalid("Push from worker " + std::to_string(w) + ", ps expects " +
                     std::to_string(opts_.num_workers) + " workers");
    }
    if (departed_[w]) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              "worker " + std::to_string(w) + " pushed after it left the synchronous rounds"};
    }
    if (worker_in_round_[w]) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "worker " + std::to_string(w) +
                                                         " pushed twice in synchronous step " +
                                                         std::to_string(round_)};
    }
    for (size_t i = 0; i < vars_.size(); ++i) {
      float* sum = vars_[i].sync_sum.data();
      const float* g = grads[i];
      for (size_t k = 0, n = vars_[i].sync_sum.size(); k < n; ++k) sum[k] += g[k];
    }
    worker_in_round_[w] = true;
    const int64_t my_round = round_;
    if (++contributed_ >= ActiveWorkers()) {
      CompleteRoundLocked();
    } else {
      bool done = round_cv_.wait_for(lock, opts_.sync_timeout,
                                     [&] { return round_ != my_round || stopping_; });
      if (round_ == my_round) {
        return {done ? grpc::StatusCode::ABORTED : grpc::StatusCode::DEADLINE_EXCEEDED,
                done ? std::string("ps is stopping")
                     : "synchronous step " + std::to_string(my_round) + ": only " +
                           std::to_string(contributed_) + " of " + std::to_string(ActiveWorkers()) +
                           " workers pushed within the sync timeout"};
      }
    }
  }
  resp->set_global_step(global_step_.load());
  if (req->return_params()) WriteParams(resp->mutable_params());
  return grpc::Status::OK;
}

grpc::Status PsService::GetState(grpc::ServerContext* ctx, const ps::GetStateRequest* req,
                                 ps::GetStateResponse* resp) {
  if (auto s = auth_.Check(*ctx, kGetState); !s.ok()) return s;
  if (auto s = CheckShard(req->shard()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (!initialized_) return {grpc::StatusCode::FAILED_PRECONDITION, "GetState before Init"};
  SpecToProto(spec_, resp->mutable_optimizer());
  resp->set_global_step(global_step_.load());
  WriteParams(resp->mutable_params());
  const auto slot_names = SlotNames(spec_);
  for (const Variable& v : vars_) {
    for (size_t k = 0; k < slot_names.size(); ++k) {
      std::vector<int64_t> shape =
          v.slots[k].size() == v.value.size() ? v.shape : std::vector<int64_t>{1};
      ToProto(v.name + "/" + slot_names[k], shape, v.slots[k].data(), v.slots[k].size(),
              resp->add_slots());
    }
  }
  return grpc::Status::OK;
}

int PsService::ActiveWorkers() const {
  int n = 0;
  for (bool d : departed_) n += d ? 0 : 1;
  return n;
}

void PsService::CompleteRoundLocked() {
  // The mean over the workers that pushed in this round (fewer once some have left).
  std::vector<const float*> sums(vars_.size());
  for (size_t i = 0; i < vars_.size(); ++i) sums[i] = vars_[i].sync_sum.data();
  ApplyAll(sums, 1.0f / static_cast<float>(contributed_));
  for (Variable& v : vars_) std::fill(v.sync_sum.begin(), v.sync_sum.end(), 0.0f);
  std::fill(worker_in_round_.begin(), worker_in_round_.end(), false);
  contributed_ = 0;
  ++round_;
  ++global_step_;
  round_cv_.notify_all();
}

grpc::Status PsService::Leave(grpc::ServerContext* ctx, const ps::LeaveRequest* req,
                              ps::LeaveResponse* resp) {
  if (auto s = auth_.Check(*ctx, kLeave); !s.ok()) return s;
  if (auto s = CheckShard(req->shard()); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  const int w = req->worker();
  if (w < 0 || w >= opts_.num_workers) {
    return Invalid("Leave from worker " + std::to_string(w) + ", ps expects " +
                   std::to_string(opts_.num_workers) + " workers");
  }
  departed_[w] = true;
  // The others may all have pushed already and be waiting for this worker.
  if (opts_.synchronous && initialized_ && contributed_ > 0 && contributed_ >= ActiveWorkers())
    CompleteRoundLocked();
  resp->set_global_step(global_step_.load());
  return grpc::Status::OK;
}

grpc::Status PsService::Stop(grpc::ServerContext* ctx, const ps::StopRequest*, ps::StopResponse*) {
  if (auto s = auth_.Check(*ctx, kStop); !s.ok()) return s;
  owner_->Stop();
  return grpc::Status::OK;
}

}  // namespace

Result<std::unique_ptr<PsServer>> PsServer::Start(const PsServerOptions& options) {
  auto fail = [&](Status s) -> Status {
    if (options.reserved_fd >= 0) close(options.reserved_fd);
    return s;
  };
  if (options.secret.empty())
    return fail(InvalidArgument("PsServer: the job secret must not be empty"));
  if (options.num_shards < 1 || options.shard < 0 || options.shard >= options.num_shards) {
    return fail(InvalidArgument("PsServer: shard " + std::to_string(options.shard) + " of " +
                                std::to_string(options.num_shards)));
  }
  if (options.num_workers < 1) return fail(InvalidArgument("PsServer: num_workers must be >= 1"));
  auto impl = std::make_unique<PsServerImpl>(options);
  TOS_RETURN_IF_ERROR(impl->Begin());
  return std::unique_ptr<PsServer>(std::move(impl));
}

}  // namespace tos::train
