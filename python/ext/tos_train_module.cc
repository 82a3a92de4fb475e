// torchonspark._tos_train: the C++ parameter server (tos/train/ps.h, ps_client.h) for PyTorch
// modules in Python training functions. The same servers, optimizers, sharding and protocol as
// the C++ helpers; nothing of it is re-implemented in Python.
//
// A PyTorch parameter reaches C++ as the NumPy view of its storage (Tensor.numpy() shares
// memory), wrapped with torch::from_blob: pulled values land in the module's own parameters,
// and gradients are read from the views of their .grad. This module links libtorch, the same
// shared libraries Debian's python3-torch loads, but no torch Python bindings.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/socket.h"
#include "tos/train/allreduce.h"
#include "tos/train/kv_store.h"
#include "tos/train/ps.h"
#include "tos/train/ps_client.h"
#include "tos/train/tcp_collectives.h"

namespace py = pybind11;

namespace tos::python {
namespace {

using std::chrono::milliseconds;
using FloatArray = py::array_t<float, py::array::c_style>;

[[noreturn]] void Throw(const Status& s) { throw Error(s); }

void Check(const Status& s) {
  if (!s.ok()) Throw(s);
}

torch::Tensor View(FloatArray& a) {
  std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
  return torch::from_blob(a.mutable_data(), shape, torch::kFloat32);
}

// The array itself, never a converted copy: C++ writes into it (pulled values, averaged
// gradients), so a copy would lose those writes without a word.
FloatArray Writable(const py::handle& h, const std::string& what) {
  // isinstance<array_t<float, c_style>>: a NumPy array of float32, C-contiguous.
  if (!py::isinstance<FloatArray>(h) || !py::reinterpret_borrow<py::array>(h).writeable())
    throw py::type_error(what +
                         " must be a writable, contiguous float32 array (the .numpy() of a "
                         "contiguous float32 CPU tensor)");
  return py::reinterpret_borrow<FloatArray>(h);
}

// A PyTorch module's parameters as the C++ side sees them: torch::from_blob views of their
// storage (through the NumPy arrays, kept alive here), and per call the views of their
// gradients attached as the views' .grad.
class ParamViews {
 public:
  explicit ParamViews(const std::vector<std::pair<std::string, py::object>>& params) {
    for (const auto& [name, value] : params) {
      arrays_.push_back(Writable(value, "parameter '" + name + "'"));
      tensors_.push_back(View(arrays_.back()));
    }
  }
  const std::vector<torch::Tensor>& tensors() const { return tensors_; }

  // Attaches grads[i] (None: no gradient, when allowed) to parameter i until DetachGrads.
  void AttachGrads(const std::vector<py::object>& grads, bool allow_none) {
    if (grads.size() != tensors_.size())
      throw py::value_error("got " + std::to_string(grads.size()) + " gradients for " +
                            std::to_string(tensors_.size()) + " parameters");
    grads_.clear();
    grads_.reserve(grads.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      if (allow_none && grads[i].is_none()) {
        tensors_[i].mutable_grad() = torch::Tensor();
        continue;
      }
      grads_.push_back(Writable(grads[i], "gradient " + std::to_string(i)));
      auto g = View(grads_.back());
      if (g.sizes() != tensors_[i].sizes())
        throw py::value_error("gradient " + std::to_string(i) +
                              " has another shape than its parameter");
      tensors_[i].mutable_grad() = g;
    }
  }
  void DetachGrads() {
    for (auto& t : tensors_) t.mutable_grad() = torch::Tensor();
    grads_.clear();
  }

 private:
  std::vector<FloatArray> arrays_;      // the parameters' storage, kept alive
  std::vector<torch::Tensor> tensors_;  // views of it (the impls the C++ side holds)
  std::vector<FloatArray> grads_;       // the attached gradients, kept alive while attached
};

train::OptimizerSpec Spec(const py::dict& d) {
  train::OptimizerSpec s;
  for (auto item : d) {
    auto key = item.first.cast<std::string>();
    if (key == "type") {
      s.type = item.second.cast<std::string>();
    } else if (key == "learning_rate") {
      s.learning_rate = item.second.cast<double>();
    } else if (key == "momentum") {
      s.momentum = item.second.cast<double>();
    } else if (key == "nesterov") {
      s.nesterov = item.second.cast<bool>();
    } else if (key == "initial_accumulator") {
      s.initial_accumulator = item.second.cast<double>();
    } else if (key == "beta1") {
      s.beta1 = item.second.cast<double>();
    } else if (key == "beta2") {
      s.beta2 = item.second.cast<double>();
    } else if (key == "epsilon") {
      s.epsilon = item.second.cast<double>();
    } else {
      throw py::value_error("unknown optimizer setting '" + key +
                            "' (type, learning_rate, momentum, nesterov, initial_accumulator, "
                            "beta1, beta2, epsilon)");
    }
  }
  Check(train::ValidateOptimizerSpec(s));
  return s;
}

class Client {
 public:
  Client(const std::vector<std::string>& ps, const std::string& secret, int worker_index,
         const std::vector<std::pair<std::string, py::object>>& params, double rpc_timeout_s)
      : params_(params) {
    train::NamedTensors named;  // the same TensorImpls the client reads .grad() of
    for (size_t i = 0; i < params.size(); ++i)
      named.emplace_back(params[i].first, params_.tensors()[i]);
    train::PsClientOptions o;
    o.ps_addresses = ps;
    o.secret = secret;
    o.worker_index = worker_index;
    o.rpc_timeout = milliseconds(static_cast<int64_t>(rpc_timeout_s * 1000));
    auto c = train::PsClient::Create(o, std::move(named));
    if (!c.ok()) Throw(c.status());
    client_ = std::move(c).value();
  }

  void Initialize(const py::dict& optimizer) {
    auto spec = Spec(optimizer);
    py::gil_scoped_release release;
    Check(client_->Initialize(spec));
  }
  void WaitInitialized(double timeout_s) {
    py::gil_scoped_release release;
    Check(client_->WaitInitialized(milliseconds(static_cast<int64_t>(timeout_s * 1000))));
  }
  void Pull() {
    py::gil_scoped_release release;
    Check(client_->Pull());
  }
  // grads[i]: the gradient of parameter i (same shape), or None for none this step.
  void Push(const std::vector<py::object>& grads, bool pull_after) {
    params_.AttachGrads(grads, /*allow_none=*/true);
    Status s;
    {
      py::gil_scoped_release release;
      s = client_->PushGradients(pull_after);
    }
    params_.DetachGrads();
    Check(s);
  }
  int64_t GlobalStep() const { return client_->global_step(); }
  void Leave() {
    py::gil_scoped_release release;
    Check(client_->Leave());
  }
  void StopServers() {
    py::gil_scoped_release release;
    Check(client_->StopServers());
  }
  // Values and optimizer slots of every shard: (global_step, {name: array}).
  py::tuple State() {
    Result<train::PsState> r = InvalidArgument("");
    {
      py::gil_scoped_release release;
      r = client_->GetState();
    }
    if (!r.ok()) Throw(r.status());
    py::dict values;
    auto put = [&](const train::NamedTensors& ts) {
      for (const auto& [name, t] : ts) {
        auto c = t.contiguous().to(torch::kFloat32);
        std::vector<py::ssize_t> shape(c.sizes().begin(), c.sizes().end());
        FloatArray a(shape);
        std::memcpy(a.mutable_data(), c.data_ptr<float>(), c.numel() * sizeof(float));
        values[py::str(name)] = a;
      }
    };
    put(r->params);
    put(r->slots);
    return py::make_tuple(r->global_step, values);
  }

 private:
  ParamViews params_;
  std::unique_ptr<train::PsClient> client_;
};

class Server {
 public:
  Server(int shard, int num_shards, int num_workers, const std::string& secret, int reserved_fd,
         bool synchronous) {
    train::PsServerOptions o;
    o.shard = shard;
    o.num_shards = num_shards;
    o.num_workers = num_workers;
    o.secret = secret;
    o.reserved_fd = reserved_fd;
    o.synchronous = synchronous;
    auto s = train::PsServer::Start(o);
    if (!s.ok()) Throw(s.status());
    server_ = std::move(s).value();
  }
  int Port() const { return server_->port(); }
  void Stop() { server_->Stop(); }
  bool Wait(double timeout_s) {
    py::gil_scoped_release release;
    Status s = server_->Wait(milliseconds(static_cast<int64_t>(timeout_s * 1000)));
    if (s.ok()) return true;
    if (s.code() == StatusCode::kTimeout) return false;
    Throw(s);
  }
  int64_t GlobalStep() const { return server_->global_step(); }

 private:
  std::unique_ptr<train::PsServer> server_;
};

// Gradient averaging over the runtime's TCP ring (tos/train/tcp_collectives.h), met through the
// job's store: the C++ GradientAllreducer on a PyTorch module's parameters and gradients. One
// extra value rides in the buckets, "this rank still has data", so that all ranks stop at the
// same step when one runs out, at no collective of its own.
class Allreducer {
 public:
  Allreducer(const std::string& store_address, const std::string& secret, const std::string& name,
             int rank, int size, const std::string& host, double timeout_s,
             const std::vector<std::pair<std::string, py::object>>& params)
      : params_(params) {
    const milliseconds timeout(static_cast<int64_t>(timeout_s * 1000));
    has_data_ = torch::zeros({1}, torch::kFloat32);
    std::vector<torch::Tensor> exchanged = params_.tensors();
    exchanged.push_back(has_data_);
    Status s;
    {
      py::gil_scoped_release release;
      s = Connect(store_address, secret, name, rank, size, host, timeout, std::move(exchanged));
    }
    Check(s);
  }

  void Broadcast(int root) {
    py::gil_scoped_release release;
    Check(allreducer_->BroadcastParameters(root));
  }

  // grads[i]: writable float32 views of the parameters' gradients, replaced in place by their
  // mean over the ranks. Returns false once any rank passed more=false (its data ran out):
  // then nobody should step.
  bool Average(const std::vector<py::object>& grads, bool more) {
    params_.AttachGrads(grads, /*allow_none=*/false);
    has_data_.mutable_grad() = torch::full({1}, more ? 1.0f : 0.0f);
    Status s;
    {
      py::gil_scoped_release release;
      s = allreducer_->AverageGradients();
    }
    params_.DetachGrads();
    Check(s);
    const float all_have_data = 1.0f - 0.5f / static_cast<float>(size_);
    return has_data_.grad().item<float>() >= all_have_data;
  }

 private:
  Status Connect(const std::string& store_address, const std::string& secret,
                 const std::string& name, int rank, int size, const std::string& host,
                 milliseconds timeout, std::vector<torch::Tensor> exchanged) {
    TOS_ASSIGN_OR_RETURN(auto store,
                         train::KvStore::Connect(store_address, secret, name + "/", timeout));
    train::TcpCollectivesOptions o;
    o.rank = rank;
    o.size = size;
    o.host = host;
    o.timeout = timeout;
    TOS_ASSIGN_OR_RETURN(coll_, train::CreateTcpCollectives(store, o));
    TOS_ASSIGN_OR_RETURN(allreducer_,
                         train::GradientAllreducer::Create(coll_.get(), std::move(exchanged)));
    size_ = size;
    return Status::OK();
  }

  ParamViews params_;
  torch::Tensor has_data_;
  int size_ = 1;
  std::unique_ptr<train::Collectives> coll_;
  std::unique_ptr<train::GradientAllreducer> allreducer_;
};

}  // namespace
}  // namespace tos::python

PYBIND11_MODULE(_tos_train, m) {
  using namespace tos::python;
  m.doc() = "TorchOnSpark's parameter server (C++) for PyTorch modules";
  // This module holds its own copy of the runtime's networking: it gets the job's peer timeout
  // (how long a silent peer is waited for) as the node runner set it in its own copy.
  if (const char* ms = std::getenv("TOS_NODE_TIMEOUT_MS")) {
    char* end = nullptr;
    const long long v = std::strtoll(ms, &end, 10);
    if (end != ms && *end == '\0' && v > 0)
      tos::net::SetDefaultPeerTimeout(std::chrono::milliseconds(v));
  }
  py::register_local_exception<tos::Error>(m, "Error", PyExc_RuntimeError);
  py::class_<Client>(m, "PsClient")
      .def(py::init<const std::vector<std::string>&, const std::string&, int,
                    const std::vector<std::pair<std::string, py::object>>&, double>())
      .def("initialize", &Client::Initialize)
      .def("wait_initialized", &Client::WaitInitialized)
      .def("pull", &Client::Pull)
      .def("push", &Client::Push)
      .def_property_readonly("global_step", &Client::GlobalStep)
      .def("leave", &Client::Leave)
      .def("stop_servers", &Client::StopServers)
      .def("state", &Client::State);
  py::class_<Allreducer>(m, "Allreducer")
      .def(py::init<const std::string&, const std::string&, const std::string&, int, int,
                    const std::string&, double,
                    const std::vector<std::pair<std::string, py::object>>&>())
      .def("broadcast", &Allreducer::Broadcast)
      .def("average", &Allreducer::Average);
  py::class_<Server>(m, "PsServer")
      .def(py::init<int, int, int, const std::string&, int, bool>())
      .def_property_readonly("port", &Server::Port)
      .def("stop", &Server::Stop)
      .def("wait", &Server::Wait)
      .def_property_readonly("global_step", &Server::GlobalStep);
}
