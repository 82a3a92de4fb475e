#include "tos/train/ps_buffer_client.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "ps.grpc.pb.h"
#include "train/ps_auth.h"
#include "train/ps_proto.h"

namespace tos::train {
namespace {

// WaitInitialized polls the ps with backoff: from the first pause, doubling up to the last.
constexpr auto kInitPollFirst = std::chrono::milliseconds(10);
constexpr auto kInitPollMax = std::chrono::milliseconds(500);
// A stop request is a courtesy at shutdown: it waits at most this long for a ps.
constexpr auto kStopRpcTimeout = std::chrono::seconds(10);

Status FromGrpc(const grpc::Status& s, const std::string& where) {
  StatusCode code = StatusCode::kInternal;
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      code = StatusCode::kPermissionDenied;
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      code = StatusCode::kTimeout;
      break;
    case grpc::StatusCode::UNAVAILABLE:
      code = StatusCode::kUnavailable;
      break;
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
      code = StatusCode::kAborted;
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
      code = StatusCode::kInvalidArgument;
      break;
    default:
      break;
  }
  return Status(code, where + ": " + s.error_message());
}

NamedArray ArrayFromProto(const ps::Tensor& t) {
  NamedArray a;
  a.name = t.name();
  a.shape.assign(t.shape().begin(), t.shape().end());
  int64_t n = 1;
  for (int64_t d : a.shape) n *= d;
  a.values.resize(static_cast<size_t>(n));
  std::memcpy(a.values.data(), t.data().data(), std::min<size_t>(t.data().size(), n * 4));
  return a;
}

// Writes `numel` floats (zeros when `src` is null) as tensor `name` of `shape`.
void WriteTensor(const std::string& name, const std::vector<int64_t>& shape, const float* src,
                 int64_t numel, ps::Tensor* t) {
  if (t->name() != name) t->set_name(name);
  if (t->shape_size() != static_cast<int>(shape.size()))
    t->mutable_shape()->Assign(shape.begin(), shape.end());
  const size_t nbytes = numel * sizeof(float);
  std::string* d = t->mutable_data();
  d->resize(nbytes);  // keeps its capacity from the previous step: no allocation
  if (src != nullptr)
    std::memcpy(d->data(), src, nbytes);
  else
    std::memset(d->data(), 0, nbytes);
}

struct Shard {
  std::string address;
  std::unique_ptr<ps::ParameterServer::Stub> stub;
  std::vector<size_t> members;  // indices into params_, in the shard's order
  ps::PushRequest push;         // reused every step
  ps::PushResponse push_resp;
  ps::PullResponse pull_resp;
};

class PsBufferClientImpl : public PsBufferClient {
 public:
  PsBufferClientImpl(const PsClientOptions& o, std::vector<ParamBuffer> params)
      : opts_(o), params_(std::move(params)) {}
  ~PsBufferClientImpl() override {
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  Status Setup() {
    if (opts_.ps_addresses.empty()) return InvalidArgument("PsClient: no ps addresses");
    if (opts_.secret.empty()) return InvalidArgument("PsClient: the job secret must not be empty");
    std::vector<ParamInfo> infos;
    for (size_t i = 0; i < params_.size(); ++i) {
      const ParamBuffer& p = params_[i];
      if (p.data == nullptr && p.numel() > 0)
        return InvalidArgument("PsClient: parameter '" + p.name + "' has no buffer");
      if (!index_.emplace(p.name, i).second)
        return InvalidArgument("PsClient: duplicate parameter '" + p.name + "'");
      infos.push_back({p.name, p.numel()});
    }
    auto assignment = AssignShards(infos, static_cast<int>(opts_.ps_addresses.size()));
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 20);
    args.SetInt(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, 1 << 20);
    args.SetInt(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 16 << 20);
    args.SetInt(GRPC_ARG_TCP_READ_CHUNK_SIZE, 4 << 20);
    shards_.resize(opts_.ps_addresses.size());
    for (size_t s = 0; s < shards_.size(); ++s) {
      shards_[s].address = opts_.ps_addresses[s];
      auto channel =
          grpc::CreateCustomChannel(shards_[s].address, grpc::InsecureChannelCredentials(), args);
      shards_[s].stub = ps::ParameterServer::NewStub(channel);
      shards_[s].push.set_shard(static_cast<int32_t>(s));
      shards_[s].push.set_worker(opts_.worker_index);
    }
    for (size_t i = 0; i < params_.size(); ++i) shards_[assignment[i]].members.push_back(i);
    return Status::OK();
  }

  std::string AddressList() const {
    std::string out;
    for (const auto& sh : shards_) out += (out.empty() ? "" : ", ") + sh.address;
    return out;
  }

  std::string Where(size_t s, const char* call) const {
    return "ps shard " + std::to_string(s) + " (" + shards_[s].address + ") " + call;
  }

  // wait_for_ready: the call waits (until its deadline) for a ps that is not reachable yet;
  // used while starting up. Training calls fail fast instead, so that a ps that died is
  // reported at once rather than after rpc_timeout.
  std::unique_ptr<grpc::ClientContext> NewContext(const char* method, bool wait_for_ready,
                                                  std::chrono::milliseconds timeout) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    ctx->set_wait_for_ready(wait_for_ready);
    AddAuthMetadata(ctx.get(), opts_.secret, method);
    return ctx;
  }

  // Runs one call per shard concurrently and waits for all of them.
  template <typename Req, typename Resp, typename Start>
  Status CallAll(const char* method, const char* call, bool wait_for_ready, std::vector<Req*> reqs,
                 std::vector<Resp*> resps, Start start, std::chrono::milliseconds timeout = {}) {
    if (timeout.count() <= 0) timeout = opts_.rpc_timeout;
    const size_t n = shards_.size();
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs(n);
    std::vector<grpc::Status> statuses(n);
    std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>> readers(n);
    for (size_t s = 0; s < n; ++s) {
      ctxs[s] = NewContext(method, wait_for_ready, timeout);
      readers[s] = start(*shards_[s].stub, ctxs[s].get(), *reqs[s], &cq_);
      // The completion queue's tag is the shard number plus one (grpc tags are void*).
      readers[s]->Finish(resps[s], &statuses[s],
                         reinterpret_cast<void*>(s + 1));  // NOLINT(performance-no-int-to-ptr)
    }
    for (size_t k = 0; k < n; ++k) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq_.Next(&tag, &ok)) return Internal("PsClient: completion queue shut down");
    }
    for (size_t s = 0; s < n; ++s) {
      if (!statuses[s].ok()) return FromGrpc(statuses[s], Where(s, call));
    }
    return Status::OK();
  }

  Status Initialize(const OptimizerSpec& spec, const PsSnapshot* restore) override {
    TOS_RETURN_IF_ERROR(ValidateOptimizerSpec(spec));
    std::unordered_map<std::string, const NamedArray*> restored;
    std::unordered_map<std::string, std::vector<const NamedArray*>> slots;
    if (restore != nullptr) {
      for (const auto& a : restore->params) restored[a.name] = &a;
      for (const auto& a : restore->slots) {
        auto slash = a.name.rfind('/');
        if (slash == std::string::npos || index_.count(a.name.substr(0, slash)) == 0) {
          return InvalidArgument("PsClient::Initialize: restored slot '" + a.name +
                                 "' names no parameter");
        }
        slots[a.name.substr(0, slash)].push_back(&a);
      }
    }
    std::vector<ps::InitRequest> reqs(shards_.size());
    std::vector<ps::InitResponse> resps(shards_.size());
    for (size_t s = 0; s < shards_.size(); ++s) {
      auto& r = reqs[s];
      r.set_shard(static_cast<int32_t>(s));
      r.set_num_shards(static_cast<int32_t>(shards_.size()));
      SpecToProto(restore != nullptr ? restore->optimizer : spec, r.mutable_optimizer());
      r.set_global_step(restore != nullptr ? restore->global_step : 0);
      for (size_t i : shards_[s].members) {
        const ParamBuffer& p = params_[i];
        const float* value = p.data;
        if (restore != nullptr) {
          auto it = restored.find(p.name);
          if (it == restored.end())
            return InvalidArgument("PsClient::Initialize: restored state lacks '" + p.name + "'");
          if (it->second->shape != p.shape ||
              static_cast<int64_t>(it->second->values.size()) != p.numel()) {
            return InvalidArgument("PsClient::Initialize: restored '" + p.name +
                                   "' has another shape");
          }
          value = it->second->values.data();
        }
        WriteTensor(p.name, p.shape, value, p.numel(), r.add_params());
        for (const NamedArray* st : slots[p.name]) {
          int64_t n = 1;
          for (int64_t d : st->shape) n *= d;
          if (n != static_cast<int64_t>(st->values.size())) {
            return InvalidArgument("PsClient::Initialize: restored slot '" + st->name + "' holds " +
                                   std::to_string(st->values.size()) + " values for its shape's " +
                                   std::to_string(n));
          }
          WriteTensor(st->name, st->shape, st->values.data(), n, r.add_slots());
        }
      }
    }
    std::vector<ps::InitRequest*> rp;
    std::vector<ps::InitResponse*> sp;
    for (size_t s = 0; s < shards_.size(); ++s) {
      rp.push_back(&reqs[s]);
      sp.push_back(&resps[s]);
    }
    return CallAll(
        "/tos.ps.ParameterServer/Init", "Init", /*wait_for_ready=*/true, rp, sp,
        [](ps::ParameterServer::Stub& stub, grpc::ClientContext* c, const ps::InitRequest& r,
           grpc::CompletionQueue* cq) { return stub.AsyncInit(c, r, cq); });
  }

  Status PullInto(bool* all_initialized, bool wait_for_ready,
                  std::chrono::milliseconds timeout = {}) {
    std::vector<ps::PullRequest> reqs(shards_.size());
    std::vector<ps::PullRequest*> rp;
    std::vector<ps::PullResponse*> sp;
    for (size_t s = 0; s < shards_.size(); ++s) {
      reqs[s].set_shard(static_cast<int32_t>(s));
      rp.push_back(&reqs[s]);
      sp.push_back(&shards_[s].pull_resp);
    }
    TOS_RETURN_IF_ERROR(CallAll(
        "/tos.ps.ParameterServer/Pull", "Pull", wait_for_ready, rp, sp,
        [](ps::ParameterServer::Stub& stub, grpc::ClientContext* c, const ps::PullRequest& r,
           grpc::CompletionQueue* cq) { return stub.AsyncPull(c, r, cq); },
        timeout));
    *all_initialized = true;
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (!shards_[s].pull_resp.initialized()) *all_initialized = false;
    }
    if (!*all_initialized) return Status::OK();
    for (size_t s = 0; s < shards_.size(); ++s) {
      TOS_RETURN_IF_ERROR(Absorb(s, shards_[s].pull_resp.params(), "Pull"));
    }
    global_step_ = shards_[0].pull_resp.global_step();
    return Status::OK();
  }

  Status Absorb(size_t s, const google::protobuf::RepeatedPtrField<ps::Tensor>& values,
                const char* call) {
    const auto& members = shards_[s].members;
    if (static_cast<size_t>(values.size()) != members.size()) {
      return InvalidArgument(Where(s, call) + ": returned " + std::to_string(values.size()) +
                             " parameters, expected " + std::to_string(members.size()) +
                             " (was the ps initialized with another model?)");
    }
    for (int k = 0; k < values.size(); ++k) {
      const ps::Tensor& v = values.Get(k);
      size_t i = members[k];
      if (params_[i].name != v.name()) {
        auto it = index_.find(v.name());
        if (it == index_.end())
          return InvalidArgument(Where(s, call) + ": unknown parameter '" + v.name() + "'");
        i = it->second;
      }
      const ParamBuffer& p = params_[i];
      if (v.data().size() != static_cast<size_t>(p.numel()) * 4) {
        return InvalidArgument(Where(s, call) + ": parameter '" + v.name() +
                               "' has the wrong size");
      }
      std::memcpy(p.data, v.data().data(), v.data().size());
    }
    return Status::OK();
  }

  Status WaitInitialized(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto delay = kInitPollFirst;
    while (true) {
      bool ready = false;
      // Each poll waits for an unreachable ps at most until the overall deadline.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const auto call_timeout =
          std::max(std::chrono::milliseconds(1), std::min(opts_.rpc_timeout, left));
      Status s = PullInto(&ready, /*wait_for_ready=*/true, call_timeout);
      if (s.code() == StatusCode::kTimeout && std::chrono::steady_clock::now() >= deadline) {
        return Timeout("PsClient: parameter servers " + AddressList() + " not reachable within " +
                       std::to_string(timeout.count()) + " ms: " + s.message());
      }
      TOS_RETURN_IF_ERROR(s);
      if (ready) return Status::OK();
      if (std::chrono::steady_clock::now() + delay > deadline) {
        return Timeout("PsClient: parameter servers not initialized by the chief after " +
                       std::to_string(timeout.count()) + " ms");
      }
      std::this_thread::sleep_for(delay);
      delay = std::min<std::chrono::milliseconds>(delay * 2, kInitPollMax);
    }
  }

  Status Pull() override {
    bool ready = false;
    TOS_RETURN_IF_ERROR(PullInto(&ready, /*wait_for_ready=*/false));
    if (!ready)
      return InvalidArgument("PsClient: Pull before the parameter servers were initialized");
    return Status::OK();
  }

  Status PushGradients(const std::vector<const float*>& grad_data, bool pull_after) override {
    if (grad_data.size() != params_.size()) {
      return InvalidArgument("PsClient::PushGradients: " + std::to_string(grad_data.size()) +
                             " gradients for " + std::to_string(params_.size()) + " parameters");
    }
    std::vector<ps::PushRequest*> rp;
    std::vector<ps::PushResponse*> sp;
    for (size_t s = 0; s < shards_.size(); ++s) {
      Shard& sh = shards_[s];
      sh.push.set_return_params(pull_after);
      auto* grads = sh.push.mutable_grads();
      while (grads->size() < static_cast<int>(sh.members.size())) grads->Add();
      for (size_t k = 0; k < sh.members.size(); ++k) {
        const size_t i = sh.members[k];
        const ParamBuffer& p = params_[i];
        WriteTensor(p.name, p.shape, grad_data[i], p.numel(), grads->Mutable(static_cast<int>(k)));
      }
      rp.push_back(&sh.push);
      sp.push_back(&sh.push_resp);
    }
    TOS_RETURN_IF_ERROR(CallAll(
        "/tos.ps.ParameterServer/Push", "Push", /*wait_for_ready=*/false, rp, sp,
        [](ps::ParameterServer::Stub& stub, grpc::ClientContext* c, const ps::PushRequest& r,
           grpc::CompletionQueue* cq) { return stub.AsyncPush(c, r, cq); }));
    if (pull_after) {
      for (size_t s = 0; s < shards_.size(); ++s)
        TOS_RETURN_IF_ERROR(Absorb(s, shards_[s].push_resp.params(), "Push"));
    }
    global_step_ = shards_[0].push_resp.global_step();
    return Status::OK();
  }

  int64_t global_step() const override { return global_step_; }

  Result<PsSnapshot> GetState() override {
    std::vector<ps::GetStateRequest> reqs(shards_.size());
    std::vector<ps::GetStateResponse> resps(shards_.size());
    std::vector<ps::GetStateRequest*> rp;
    std::vector<ps::GetStateResponse*> sp;
    for (size_t s = 0; s < shards_.size(); ++s) {
      reqs[s].set_shard(static_cast<int32_t>(s));
      rp.push_back(&reqs[s]);
      sp.push_back(&resps[s]);
    }
    TOS_RETURN_IF_ERROR(CallAll(
        "/tos.ps.ParameterServer/GetState", "GetState", /*wait_for_ready=*/false, rp, sp,
        [](ps::ParameterServer::Stub& stub, grpc::ClientContext* c, const ps::GetStateRequest& r,
           grpc::CompletionQueue* cq) { return stub.AsyncGetState(c, r, cq); }));
    PsSnapshot state;
    state.optimizer = SpecFromProto(resps[0].optimizer());
    state.global_step = resps[0].global_step();
    for (const auto& r : resps) {
      for (const auto& t : r.params()) state.params.push_back(ArrayFromProto(t));
      for (const auto& t : r.slots()) state.slots.push_back(ArrayFromProto(t));
    }
    return state;
  }

  Status Leave() override {
    std::vector<ps::LeaveRequest> reqs(shards_.size());
    std::vector<ps::LeaveResponse> resps(shards_.size());
    std::vector<ps::LeaveRequest*> rp;
    std::vector<ps::LeaveResponse*> sp;
    for (size_t s = 0; s < shards_.size(); ++s) {
      reqs[s].set_shard(static_cast<int32_t>(s));
      reqs[s].set_worker(opts_.worker_index);
      rp.push_back(&reqs[s]);
      sp.push_back(&resps[s]);
    }
    TOS_RETURN_IF_ERROR(CallAll(
        "/tos.ps.ParameterServer/Leave", "Leave", /*wait_for_ready=*/false, rp, sp,
        [](ps::ParameterServer::Stub& stub, grpc::ClientContext* c, const ps::LeaveRequest& r,
           grpc::CompletionQueue* cq) { return stub.AsyncLeave(c, r, cq); }));
    global_step_ = resps[0].global_step();
    return Status::OK();
  }

  Status StopServers() override {
    for (size_t s = 0; s < shards_.size(); ++s) {
      auto ctx =
          NewContext("/tos.ps.ParameterServer/Stop", /*wait_for_ready=*/false,
                     std::min<std::chrono::milliseconds>(opts_.rpc_timeout, kStopRpcTimeout));
      ps::StopRequest req;
      ps::StopResponse resp;
      grpc::Status st = shards_[s].stub->Stop(ctx.get(), req, &resp);
      if (!st.ok() && st.error_code() != grpc::StatusCode::UNAVAILABLE)
        return FromGrpc(st, Where(s, "Stop"));
    }
    return Status::OK();
  }

 private:
  const PsClientOptions opts_;
  std::vector<ParamBuffer> params_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<Shard> shards_;
  grpc::CompletionQueue cq_;
  int64_t global_step_ = 0;
};

}  // namespace

int64_t ParamBuffer::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<std::unique_ptr<PsBufferClient>> PsBufferClient::Create(const PsClientOptions& options,
                                                               std::vector<ParamBuffer> params) {
  auto impl = std::make_unique<PsBufferClientImpl>(options, std::move(params));
  TOS_RETURN_IF_ERROR(impl->Setup());
  return std::unique_ptr<PsBufferClient>(std::move(impl));
}

}  // namespace tos::train
