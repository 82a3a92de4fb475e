// Training throughput of tos_train on Fashion-MNIST, in-process (no cluster runtime):
//   local      1 process
//   allreduce  N processes (fork), c10d Gloo over 127.0.0.1, rendezvous through a FileStore
//   allreduce_tcp  the same over TcpCollectives (ring allreduce in the calling thread)
//   allreduce_comm, allreduce_comm_tcp, ps_comm  only the gradient exchange, no compute
//   ps         1 ps process + N worker processes (fork), asynchronous updates over gRPC
//   ps_sync    the same with synchronous updates (one averaged update per step)
// Each process uses one thread; batch 100 per process, Adagrad(0.01), 3 epochs over the 60k
// training images split between the workers. Prints one JSON line per mode, then the peer
// (PyTorch DDP over Gloo, bench/peer_ddp.py) measured in the same run and the ratios.
//
//   bench_train_local [--modes local,allreduce,allreduce_tcp,ps] [--processes 2] [--epochs 3]
//                     [--model mlp|cnn] [--optimizer adagrad|adam] [--lr 0.01] [--no-peer]
//                     [--data-dir DIR]
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <vector>

#include "bench/train/fashion_mnist.h"
#include "tos/train/allreduce.h"
#include "tos/train/gloo_collectives.h"
#include "tos/train/grpc_handover.h"
#include "tos/train/models.h"
#include "tos/train/ps.h"
#include "tos/train/ps_client.h"
#include "tos/train/tcp_collectives.h"
#include "tos/train/threads.h"

#ifndef TOS_SOURCE_DIR
#define TOS_SOURCE_DIR "."
#endif

namespace tt = tos::train;
using Clock = std::chrono::steady_clock;

struct Args {
  std::vector<std::string> modes = {"local", "allreduce", "allreduce_tcp", "ps"};
  int processes = 2;
  int epochs = 3;
  int batch = 100;
  std::string model = "mlp";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  bool peer = true;
  bool comm_only = false;             // ps_comm: push+pull without compute
  std::string optimizer = "adagrad";  // local and allreduce modes: adagrad or adam
  double lr = 0.01;
};

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const Args& a,
                                                       const std::vector<torch::Tensor>& params) {
  if (a.optimizer == "adam")
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(a.lr));
  return std::make_unique<torch::optim::Adagrad>(params, torch::optim::AdagradOptions(a.lr));
}

struct WorkerResult {
  int64_t samples = 0;
  double seconds = 0;
  double loss = 0;
  double accuracy = -1;     // on t10k, reported by worker 0
  double sync_seconds = 0;  // time in gradient averaging / push+pull
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench_train_local: %s\n", what.c_str());
  std::fflush(stderr);
  _exit(1);
}

double Evaluate(tt::Model& model, const std::string& dir) {
  auto test = tt::bench::LoadFashionMnist("t10k", dir);
  if (!test.ok()) return -1;
  torch::NoGradGuard g;
  model.eval();
  int64_t correct = 0;
  for (int64_t i = 0; i < test.images.size(0); i += 1000) {
    auto logits = model.forward(test.images.slice(0, i, i + 1000));
    correct += logits.argmax(1).eq(test.labels.slice(0, i, i + 1000)).sum().item<int64_t>();
  }
  model.train();
  return static_cast<double>(correct) / test.images.size(0);
}

// The part of an epoch this worker trains on: rows rank, rank+world, ... (a strided view
// materialised once, so batches are contiguous slices).
tt::bench::Dataset Shard(const tt::bench::Dataset& d, int rank, int world) {
  if (world == 1) return d;
  auto idx = torch::arange(rank, d.images.size(0), world, torch::kInt64);
  return {d.images.index_select(0, idx).contiguous(), d.labels.index_select(0, idx).contiguous()};
}

// Runs the training loop; `after_backward` synchronises gradients or pushes them.
template <typename AfterBackward>
WorkerResult TrainLoop(tt::Model& model, const tt::bench::Dataset& data, const Args& a,
                       torch::optim::Optimizer* opt, AfterBackward after_backward) {
  WorkerResult r;
  const int64_t n = data.images.size(0) - data.images.size(0) % a.batch;
  auto start = Clock::now();
  torch::Tensor loss;
  for (int e = 0; e < a.epochs; ++e) {
    for (int64_t i = 0; i < n; i += a.batch) {
      if (opt != nullptr) {
        opt->zero_grad();
      } else {
        for (auto& p : model.parameters()) {
          if (p.grad().defined()) p.mutable_grad().zero_();
        }
      }
      loss =
          torch::nn::functional::cross_entropy(model.forward(data.images.slice(0, i, i + a.batch)),
                                               data.labels.slice(0, i, i + a.batch));
      loss.backward();
      auto sync_start = Clock::now();
      after_backward();
      r.sync_seconds += std::chrono::duration<double>(Clock::now() - sync_start).count();
      if (opt != nullptr) opt->step();
      r.samples += a.batch;
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.loss = loss.item<double>();
  return r;
}

void WriteResult(int fd, const WorkerResult& r) {
  char buf[256];
  int len = std::snprintf(buf, sizeof buf, "%lld %.6f %.6f %.6f %.6f\n",
                          static_cast<long long>(r.samples), r.seconds, r.loss, r.accuracy,
                          r.sync_seconds);
  if (write(fd, buf, len) != len) Die("writing result");
}

WorkerResult LocalRank(const Args& a) {
  auto data = tt::bench::LoadFashionMnist("train", a.data_dir);
  if (!data.ok()) Die("cannot read Fashion-MNIST from " + a.data_dir);
  torch::manual_seed(0);
  auto model = tt::MakeModel(a.model).value();
  auto opt = MakeOptimizer(a, model->parameters());
  auto r = TrainLoop(*model, data, a, opt.get(), [] {});
  r.accuracy = Evaluate(*model, a.data_dir);
  return r;
}

std::unique_ptr<tt::Collectives> MakeCollectives(const std::string& transport,
                                                 const std::string& store_path, int rank,
                                                 int size) {
  auto store = c10::make_intrusive<c10d::FileStore>(store_path, size);
  if (transport == "tcp") {
    tt::TcpCollectivesOptions o;
    o.rank = rank;
    o.size = size;
    auto c = tt::CreateTcpCollectives(store, o);
    if (!c.ok()) Die(c.status().ToString());
    return std::move(c).value();
  }
  tt::GlooOptions go;
  go.rank = rank;
  go.size = size;
  auto c = tt::CreateGlooCollectives(store, go);
  if (!c.ok()) Die(c.status().ToString());
  return std::move(c).value();
}

WorkerResult AllreduceRank(const Args& a, int rank, const std::string& store_path,
                           const std::string& transport) {
  auto coll = MakeCollectives(transport, store_path, rank, a.processes);
  auto data = tt::bench::LoadFashionMnist("train", a.data_dir);
  if (!data.ok()) Die("cannot read Fashion-MNIST from " + a.data_dir);
  data = Shard(data, rank, a.processes);
  torch::manual_seed(rank);
  auto model = tt::MakeModel(a.model).value();
  auto ar = tt::GradientAllreducer::Create(coll.get(), model->parameters()).value();
  if (auto s = ar->BroadcastParameters(0); !s.ok()) Die(s.ToString());
  auto opt = MakeOptimizer(a, model->parameters());
  if (auto s = coll->Barrier(); !s.ok()) Die(s.ToString());
  auto r = TrainLoop(*model, data, a, opt.get(), [&] {
    if (auto s = ar->AverageGradients(); !s.ok()) Die(s.ToString());
  });
  if (auto s = coll->Barrier(); !s.ok()) Die(s.ToString());
  if (rank == 0) r.accuracy = Evaluate(*model, a.data_dir);
  return r;
}

// Communication only: AverageGradients on the mlp's gradients, no compute in between.
WorkerResult AllreduceCommRank(const Args& a, int rank, const std::string& store_path,
                               const std::string& transport) {
  auto coll = MakeCollectives(transport, store_path, rank, a.processes);
  auto model = tt::MakeModel(a.model).value();
  for (auto& p : model->parameters()) p.mutable_grad() = torch::ones_like(p);
  auto ar = tt::GradientAllreducer::Create(coll.get(), model->parameters()).value();
  if (auto s = coll->Barrier(); !s.ok()) Die(s.ToString());
  WorkerResult r;
  const int steps = 1000;
  auto start = Clock::now();
  for (int i = 0; i < steps; ++i) {
    if (auto s = ar->AverageGradients(); !s.ok()) Die(s.ToString());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.sync_seconds = r.seconds;
  r.samples = steps * a.batch;
  return r;
}

WorkerResult PsWorker(const Args& a, int rank, const std::string& ps_address) {
  auto data = tt::bench::LoadFashionMnist("train", a.data_dir);
  if (!data.ok()) Die("cannot read Fashion-MNIST from " + a.data_dir);
  data = Shard(data, rank, a.processes);
  torch::manual_seed(rank);
  auto model = tt::MakeModel(a.model).value();
  tt::PsClientOptions co;
  co.ps_addresses = {ps_address};
  co.secret = "bench-secret";
  co.worker_index = rank;
  auto client = tt::PsClient::Create(co, tt::NamedParameters(*model));
  if (!client.ok()) Die(client.status().ToString());
  if (rank == 0) {
    tt::OptimizerSpec spec;  // adagrad, lr 0.01, initial accumulator 0.1
    if (auto s = (*client)->Initialize(spec); !s.ok()) Die(s.ToString());
  }
  if (auto s = (*client)->WaitInitialized(std::chrono::seconds(60)); !s.ok()) Die(s.ToString());
  if (a.comm_only) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::zeros_like(p);
    WorkerResult r;
    auto start = Clock::now();
    for (int i = 0; i < 1000; ++i) {
      if (auto s = (*client)->PushGradients(true); !s.ok()) Die(s.ToString());
    }
    r.seconds = r.sync_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    r.samples = 1000 * a.batch;
    return r;
  }
  auto r = TrainLoop(*model, data, a, nullptr, [&] {
    if (auto s = (*client)->PushGradients(true); !s.ok()) Die(s.ToString());
  });
  if (rank == 0) r.accuracy = Evaluate(*model, a.data_dir);
  return r;
}

// Forks `n` children running fn(rank) and collects their results through pipes.
template <typename Fn>
std::vector<WorkerResult> ForkRanks(int n, Fn fn) {
  std::vector<std::pair<pid_t, int>> kids;
  for (int rank = 0; rank < n; ++rank) {
    int fds[2];
    if (pipe(fds) != 0) Die("pipe");
    pid_t pid = fork();
    if (pid < 0) Die("fork");
    if (pid == 0) {
      close(fds[0]);
      if (!tt::ConfigureThreads(1).ok()) Die("threads");
      WriteResult(fds[1], fn(rank));
      _exit(0);
    }
    close(fds[1]);
    kids.emplace_back(pid, fds[0]);
  }
  std::vector<WorkerResult> out;
  for (auto& [pid, fd] : kids) {
    std::string text;
    char buf[256];
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0) text.append(buf, k);
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("a rank failed");
    WorkerResult r;
    long long samples = 0;
    std::sscanf(text.c_str(), "%lld %lf %lf %lf %lf", &samples, &r.seconds, &r.loss, &r.accuracy,
                &r.sync_seconds);
    r.samples = samples;
    out.push_back(r);
  }
  return out;
}

double Report(const std::string& mode, int processes, const std::vector<WorkerResult>& rs,
              const Args& a) {
  int64_t samples = 0;
  double seconds = 0;
  for (const auto& r : rs) {
    samples += r.samples;
    seconds = std::max(seconds, r.seconds);
  }
  const double sps = samples / seconds;
  std::printf(
      "{\"bench\":\"train-%s\",\"model\":\"%s\",\"processes\":%d,\"threads_per_process\":1,"
      "\"batch\":%d,"
      "\"epochs\":%d,\"samples_per_s\":%.1f,\"seconds\":%.2f,\"sync_seconds\":%.2f,\"final_loss\":%"
      ".4f,"
      "\"test_accuracy\":%.4f}\n",
      mode.c_str(), a.model.c_str(), processes, a.batch, a.epochs, sps, seconds, rs[0].sync_seconds,
      rs[0].loss, rs[0].accuracy);
  std::fflush(stdout);
  return sps;
}

double RunPeer(const Args& a) {
  const std::string cmd = "/usr/bin/python3 " TOS_SOURCE_DIR "/bench/peer_ddp.py --processes " +
                          std::to_string(a.processes) + " --epochs " + std::to_string(a.epochs) +
                          " --data-dir " + a.data_dir;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  auto pos = out.find("\"samples_per_s\": ");
  if (pos == std::string::npos) return -1;
  std::printf("%s", out.c_str());
  return std::atof(out.c_str() + pos + 17);
}

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + k);
      return argv[++i];
    };
    if (k == "--modes") {
      a.modes.clear();
      std::stringstream ss(next());
      for (std::string m; std::getline(ss, m, ',');) a.modes.push_back(m);
    } else if (k == "--processes") {
      a.processes = std::stoi(next());
    } else if (k == "--epochs") {
      a.epochs = std::stoi(next());
    } else if (k == "--model") {
      a.model = next();
    } else if (k == "--data-dir") {
      a.data_dir = next();
    } else if (k == "--optimizer") {
      a.optimizer = next();
    } else if (k == "--lr") {
      a.lr = std::stod(next());
    } else if (k == "--no-peer") {
      a.peer = false;
    } else {
      Die("unknown argument " + k);
    }
  }
  {
    // Reported so that figures from machines with different BLAS kernels are not compared.
    auto ts = tt::ConfigureThreads(1);
    const char* forced = std::getenv("OPENBLAS_CORETYPE");
    std::printf("{\"blas_core\":\"%s\",\"OPENBLAS_CORETYPE\":\"%s\"}\n",
                ts.ok() ? ts->blas_core.c_str() : "", forced ? forced : "");
  }
  // Everything heavy happens in forked children, so the parent stays single-threaded.
  std::map<std::string, double> sps;
  for (const auto& mode : a.modes) {
    if (mode == "local") {
      sps[mode] = Report(mode, 1, ForkRanks(1, [&](int) { return LocalRank(a); }), a);
    } else if (mode.rfind("allreduce", 0) == 0) {
      // allreduce / allreduce_comm over Gloo; allreduce_tcp / allreduce_comm_tcp over
      // TcpCollectives.
      const bool tcp = mode.size() > 4 && mode.compare(mode.size() - 4, 4, "_tcp") == 0;
      const bool comm = mode.find("_comm") != std::string::npos;
      const std::string transport = tcp ? "tcp" : "gloo";
#ifndef TOS_HAVE_GLOO
      if (!tcp) {
        std::printf("{\"bench\":\"%s\",\"skipped\":\"this libtorch has no c10d Gloo headers\"}\n",
                    mode.c_str());
        continue;
      }
#endif
      auto dir =
          std::filesystem::temp_directory_path() / ("tos_bench_store_" + std::to_string(getpid()));
      std::filesystem::remove(dir);
      if (comm) {
        auto rs = ForkRanks(
            a.processes, [&](int r) { return AllreduceCommRank(a, r, dir.string(), transport); });
        std::printf(
            "{\"bench\":\"allreduce-comm-%s\",\"processes\":%d,\"floats\":101770,\"us_per_"
            "allreduce\":%.1f}\n",
            transport.c_str(), a.processes, rs[0].seconds / 1000 * 1e6);
      } else {
        sps[mode] =
            Report(mode, a.processes,
                   ForkRanks(a.processes,
                             [&](int r) { return AllreduceRank(a, r, dir.string(), transport); }),
                   a);
      }
      std::filesystem::remove(dir);
    } else if (mode == "ps" || mode == "ps_sync" || mode == "ps_comm") {
      Args pa = a;
      pa.comm_only = mode == "ps_comm";
      auto reserved = tt::ReservePort("127.0.0.1");
      if (!reserved.ok()) Die(reserved.status().ToString());
      pid_t ps = fork();
      if (ps == 0) {
        if (!tt::ConfigureThreads(1).ok()) Die("threads");
        tt::PsServerOptions so;
        so.secret = "bench-secret";
        so.num_workers = a.processes;
        so.synchronous = mode == "ps_sync";
        so.reserved_fd = reserved->fd;
        so.bind_host = "127.0.0.1";
        auto server = tt::PsServer::Start(so);
        if (!server.ok()) Die(server.status().ToString());
        _exit((*server)->Wait(std::chrono::hours(1)).ok() ? 0 : 1);
      }
      close(reserved->fd);
      const std::string address = "127.0.0.1:" + std::to_string(reserved->port);
      auto results = ForkRanks(a.processes, [&](int r) { return PsWorker(pa, r, address); });
      if (pa.comm_only) {
        std::printf(
            "{\"bench\":\"ps-comm\",\"workers\":%d,\"floats\":101770,\"us_per_push_pull\":%.1f}\n",
            a.processes, results[0].seconds / 1000 * 1e6);
      } else {
        sps[mode] = Report(mode, a.processes + 1, results, a);
      }
      // Stop the ps from a child too: gRPC is never initialised in this (forking) parent.
      ForkRanks(1, [&](int) {
        torch::Tensor dummy = torch::zeros({1});
        tt::PsClientOptions co;
        co.ps_addresses = {address};
        co.secret = "bench-secret";
        auto c = tt::PsClient::Create(co, {{"x", dummy}});
        if (c.ok()) (void)(*c)->StopServers();
        return WorkerResult{};
      });
      int status = 0;
      waitpid(ps, &status, 0);
    } else {
      Die("unknown mode " + mode);
    }
  }
  if (a.peer) {
    double peer = RunPeer(a);
    if (peer > 0) {
      for (const auto& [mode, v] : sps) {
        std::printf("{\"ratio\":\"train-%s / pytorch-ddp-gloo\",\"value\":%.2f}\n", mode.c_str(),
                    v / peer);
      }
    }
  }
  return 0;
}
