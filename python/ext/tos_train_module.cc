// torchonspark._tos_train: the C++ parameter server (tos/train/ps.h, ps_buffer_client.h) and the
// runtime's TCP ring (tos/train/tcp_ring.h) for PyTorch modules in Python training functions.
// The same servers, optimizers, sharding and protocol as the C++ helpers; nothing of it is
// re-implemented in Python.
//
// A PyTorch parameter reaches C++ as the NumPy view of its storage (Tensor.numpy() shares
// memory): pulled values land in the module's own parameters, and gradients are read from the
// views of their .grad. This module links no libtorch at all, so it works with whatever torch
// the user's process has loaded (one libtorch per process).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/socket.h"
#include "tos/train/ps.h"
#include "tos/train/ps_buffer_client.h"
#include "tos/train/tcp_ring.h"

namespace py = pybind11;

namespace tos::python {
namespace {

using std::chrono::milliseconds;
using FloatArray = py::array_t<float, py::array::c_style>;

[[noreturn]] void Throw(const Status& s) { throw Error(s); }

void Check(const Status& s) {
  if (!s.ok()) Throw(s);
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

// A PyTorch module's parameters as the C++ side sees them: the NumPy views of their storage
// (kept alive here), and per call the views of their gradients.
class ParamViews {
 public:
  explicit ParamViews(const std::vector<std::pair<std::string, py::object>>& params) {
    for (const auto& [name, value] : params) {
      arrays_.push_back(Writable(value, "parameter '" + name + "'"));
      names_.push_back(name);
    }
  }
  size_t size() const { return arrays_.size(); }
  float* data(size_t i) { return arrays_[i].mutable_data(); }
  int64_t numel(size_t i) const { return static_cast<int64_t>(arrays_[i].size()); }
  std::vector<int64_t> shape(size_t i) const {
    return std::vector<int64_t>(arrays_[i].shape(), arrays_[i].shape() + arrays_[i].ndim());
  }
  std::vector<train::ParamBuffer> Buffers() {
    std::vector<train::ParamBuffer> out;
    for (size_t i = 0; i < arrays_.size(); ++i) out.push_back({names_[i], data(i), shape(i)});
    return out;
  }

  // The float pointers of grads[i] (None: nullptr, when allowed), checked against parameter i's
  // shape; the arrays stay referenced by `keep` for the call.
  std::vector<float*> Grads(const std::vector<py::object>& grads, bool allow_none,
                            std::vector<FloatArray>* keep) const {
    if (grads.size() != arrays_.size())
      throw py::value_error("got " + std::to_string(grads.size()) + " gradients for " +
                            std::to_string(arrays_.size()) + " parameters");
    std::vector<float*> out(grads.size(), nullptr);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (allow_none && grads[i].is_none()) continue;
      keep->push_back(Writable(grads[i], "gradient " + std::to_string(i)));
      const FloatArray& g = keep->back();
      if (std::vector<int64_t>(g.shape(), g.shape() + g.ndim()) != shape(i))
        throw py::value_error("gradient " + std::to_string(i) +
                              " has another shape than its parameter");
      out[i] = keep->back().mutable_data();
    }
    return out;
  }

 private:
  std::vector<FloatArray> arrays_;  // the parameters' storage, kept alive
  std::vector<std::string> names_;
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
    train::PsClientOptions o;
    o.ps_addresses = ps;
    o.secret = secret;
    o.worker_index = worker_index;
    o.rpc_timeout = milliseconds(static_cast<int64_t>(rpc_timeout_s * 1000));
    auto c = train::PsBufferClient::Create(o, params_.Buffers());
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
    std::vector<FloatArray> keep;
    std::vector<float*> g = params_.Grads(grads, /*allow_none=*/true, &keep);
    const std::vector<const float*> data(g.begin(), g.end());
    Status s;
    {
      py::gil_scoped_release release;
      s = client_->PushGradients(data, pull_after);
    }
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
    Result<train::PsSnapshot> r = InvalidArgument("");
    {
      py::gil_scoped_release release;
      r = client_->GetState();
    }
    if (!r.ok()) Throw(r.status());
    py::dict values;
    auto put = [&](const std::vector<train::NamedArray>& arrays) {
      for (const auto& t : arrays) {
        std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
        FloatArray a(shape);
        std::memcpy(a.mutable_data(), t.values.data(),
                    std::min<size_t>(t.values.size(), a.size()) * sizeof(float));
        values[py::str(t.name)] = a;
      }
    };
    put(r->params);
    put(r->slots);
    return py::make_tuple(r->global_step, values);
  }

 private:
  ParamViews params_;
  std::unique_ptr<train::PsBufferClient> client_;
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
      : params_(params), size_(size) {
    const milliseconds timeout(static_cast<int64_t>(timeout_s * 1000));
    Status s;
    {
      py::gil_scoped_release release;
      s = Connect(store_address, secret, name, rank, size, host, timeout);
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
    std::vector<FloatArray> keep;
    std::vector<float*> g = params_.Grads(grads, /*allow_none=*/false, &keep);
    has_data_grad_ = more ? 1.0f : 0.0f;
    g.push_back(&has_data_grad_);
    Status s;
    {
      py::gil_scoped_release release;
      s = allreducer_->AverageGradients(g);
    }
    Check(s);
    const float all_have_data = 1.0f - 0.5f / static_cast<float>(size_);
    return has_data_grad_ >= all_have_data;
  }

 private:
  Status Connect(const std::string& store_address, const std::string& secret,
                 const std::string& name, int rank, int size, const std::string& host,
                 milliseconds timeout) {
    TOS_ASSIGN_OR_RETURN(store_,
                         train::ConnectJobStore(store_address, secret, name + "/", timeout));
    train::TcpRingOptions o;
    o.rank = rank;
    o.size = size;
    o.host = host;
    o.timeout = timeout;
    TOS_ASSIGN_OR_RETURN(ring_, train::TcpRing::Connect(*store_, o));
    std::vector<float*> values;
    std::vector<int64_t> numels;
    for (size_t i = 0; i < params_.size(); ++i) {
      values.push_back(params_.data(i));
      numels.push_back(params_.numel(i));
    }
    // One extra value rides in the buckets: "this rank still has data".
    values.push_back(&has_data_);
    numels.push_back(1);
    TOS_ASSIGN_OR_RETURN(allreducer_, train::BufferAllreducer::Create(
                                          ring_.get(), std::move(values), std::move(numels)));
    return Status::OK();
  }

  ParamViews params_;
  int size_ = 1;
  float has_data_ = 0.0f;       // its "parameter": broadcast along, never read
  float has_data_grad_ = 0.0f;  // its "gradient": 1 while this rank has data
  std::unique_ptr<train::RingRendezvous> store_;
  std::unique_ptr<train::TcpRing> ring_;
  std::unique_ptr<train::BufferAllreducer> allreducer_;
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
