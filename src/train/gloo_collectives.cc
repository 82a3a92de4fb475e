#include "tos/train/gloo_collectives.h"

#include <signal.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

namespace tos::train {
namespace {

class GlooCollectives : public Collectives {
 public:
  GlooCollectives(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg, const GlooOptions& o)
      : pg_(std::move(pg)), opts_(o) {}

  int rank() const override { return opts_.rank; }
  int size() const override { return opts_.size; }

  Status Broadcast(torch::Tensor& tensor, int root) override {
    std::vector<at::Tensor> v{tensor};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    bo.timeout = opts_.timeout;
    return Run("broadcast", [&] { return pg_->broadcast(v, bo); });
  }
  Status AllreduceSum(torch::Tensor& tensor) override {
    std::vector<at::Tensor> v{tensor};
    c10d::AllreduceOptions ao;
    ao.reduceOp = c10d::ReduceOp::SUM;
    ao.timeout = opts_.timeout;
    return Run("allreduce", [&] { return pg_->allreduce(v, ao); });
  }
  Status Barrier() override {
    c10d::BarrierOptions bo;
    bo.timeout = opts_.timeout;
    return Run("barrier", [&] { return pg_->barrier(bo); });
  }

 private:
  template <typename F>
  Status Run(const char* what, F start) {
    try {
      auto work = start();
      work->wait(opts_.timeout);
      return Status::OK();
    } catch (const std::exception& e) {
      return Unavailable(std::string("gloo ") + what + " on rank " + std::to_string(opts_.rank) +
                         " of " + std::to_string(opts_.size) + " failed: " + e.what());
    }
  }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  GlooOptions opts_;
};

}  // namespace

Result<std::unique_ptr<Collectives>> CreateGlooCollectives(
    const c10::intrusive_ptr<c10d::Store>& store, const GlooOptions& options) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return InvalidArgument("gloo: rank " + std::to_string(options.rank) + " of " +
                           std::to_string(options.size));
  }
  // Gloo's TCP transport writes without MSG_NOSIGNAL: a peer that died while this rank sends
  // would kill the process with SIGPIPE instead of failing the collective. Ignore SIGPIPE
  // unless the program installed its own handler.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
  try {
    auto gloo_opts = c10d::ProcessGroupGloo::Options::create(options.timeout);
    gloo_opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.host));
    gloo_opts->threads = 1;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(options.store_prefix, store);
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, options.rank, options.size,
                                                          gloo_opts);
    return std::unique_ptr<Collectives>(std::make_unique<GlooCollectives>(std::move(pg), options));
  } catch (const std::exception& e) {
    return Unavailable("gloo rendezvous of rank " + std::to_string(options.rank) + " of " +
                       std::to_string(options.size) + " on " + options.host +
                       " failed: " + e.what());
  }
}

}  // namespace tos::train
