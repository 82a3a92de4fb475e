// Parameter server: sharding, optimizer formulas, auth, port hand-over, stop, sync and async
// training with real ps processes on 127.0.0.1.
#include "tos/train/ps.h"

#include <arpa/inet.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>

#include <cmath>
#include <thread>

#include "ps.grpc.pb.h"
#include "tos/train/grpc_handover.h"
#include "tos/train/models.h"
#include "tos/train/ps_client.h"
#include "train/ps_auth.h"
#include "train/test_util.h"

namespace tos::train {
namespace {

using namespace std::chrono_literals;
using testing::Child;
using testing::ChildArg;

const char kSecret[] = "test-secret";

std::unique_ptr<PsServer> StartServer(int shard = 0, int num_shards = 1, bool sync = false,
                                      int workers = 1) {
  PsServerOptions o;
  o.shard = shard;
  o.num_shards = num_shards;
  o.secret = kSecret;
  o.synchronous = sync;
  o.num_workers = workers;
  o.bind_host = "127.0.0.1";
  o.sync_timeout = 20s;
  auto s = PsServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Synchronous mode: waits (up to 10 s) until n pushes of the current round are in.
bool WaitForPushes(const PsServer& server, int n) {
  for (int i = 0; i < 1000; ++i) {
    if (server.pushes_waiting() >= n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

PsClientOptions ClientOptions(const std::vector<int>& ports, int worker = 0,
                              const std::string& secret = kSecret) {
  PsClientOptions o;
  for (int p : ports) o.ps_addresses.push_back("127.0.0.1:" + std::to_string(p));
  o.secret = secret;
  o.worker_index = worker;
  o.rpc_timeout = 20s;
  return o;
}

TEST(PsSharding, BalancedAndDeterministic) {
  std::vector<ParamInfo> p = {
      {"fc1.weight", 100352}, {"fc1.bias", 128}, {"fc2.weight", 1280}, {"fc2.bias", 10}};
  auto a = AssignShards(p, 2);
  EXPECT_EQ(a, (std::vector<int>{0, 1, 1, 1}));
  std::vector<ParamInfo> q = {{"b", 5}, {"a", 5}, {"c", 5}, {"d", 5}};
  EXPECT_EQ(AssignShards(q, 2), (std::vector<int>{1, 0, 0, 1}));  // ties broken by name
  auto reversed = p;
  std::reverse(reversed.begin(), reversed.end());
  auto b = AssignShards(reversed, 2);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_EQ(a[i], b[p.size() - 1 - i]) << p[i].name;
  EXPECT_EQ(AssignShards(p, 1), (std::vector<int>{0, 0, 0, 0}));
}

// Expected values of w after two identical pushes of g, computed independently.
std::vector<float> Expected(const OptimizerSpec& s, std::vector<float> w,
                            const std::vector<float>& g, int steps) {
  std::vector<double> a(w.size(), s.type == "adagrad" ? s.initial_accumulator : 0.0),
      m(w.size(), 0), v(w.size(), 0);
  for (int t = 1; t <= steps; ++t) {
    for (size_t i = 0; i < w.size(); ++i) {
      if (s.type == "sgd") w[i] -= s.learning_rate * g[i];
      if (s.type == "momentum") {
        a[i] = a[i] * s.momentum + g[i];
        w[i] -= s.learning_rate * a[i];
      }
      if (s.type == "adagrad") {
        a[i] += g[i] * g[i];
        w[i] -= s.learning_rate * g[i] / std::sqrt(a[i]);
      }
      if (s.type == "adam") {
        m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i];
        v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i];
        double lr_t =
            s.learning_rate * std::sqrt(1 - std::pow(s.beta2, t)) / (1 - std::pow(s.beta1, t));
        w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + s.epsilon);
      }
    }
  }
  return w;
}

TEST(PsOptimizers, MatchTensorFlowFormulas) {
  for (std::string type : {"sgd", "momentum", "adagrad", "adam"}) {
    SCOPED_TRACE(type);
    auto server = StartServer();
    ASSERT_TRUE(server);
    torch::Tensor w = torch::tensor({1.0f, 2.0f, 3.0f});
    w.mutable_grad() = torch::tensor({0.1f, -0.2f, 0.3f});
    auto client = PsClient::Create(ClientOptions({server->port()}), {{"w", w}});
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    OptimizerSpec spec;
    spec.type = type;
    spec.learning_rate = 0.1;
    ASSERT_TRUE((*client)->Initialize(spec).ok());
    ASSERT_TRUE((*client)->PushGradients().ok());
    ASSERT_TRUE((*client)->PushGradients().ok());
    EXPECT_EQ((*client)->global_step(), 2);
    auto want = Expected(spec, {1, 2, 3}, {0.1f, -0.2f, 0.3f}, 2);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(w[i].item<float>(), want[i], 1e-5) << i;
    auto state = (*client)->GetState();
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->optimizer.type, type);
    EXPECT_EQ(state->global_step, 2);
    server->Stop();
    EXPECT_TRUE(server->Wait(10s).ok());
  }
}

TEST(PsAuth, WrongSecretIsRejectedNamingTheShard) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  torch::Tensor w = torch::zeros({2});
  auto client = PsClient::Create(ClientOptions({server->port()}, 0, "wrong-secret"), {{"w", w}});
  ASSERT_TRUE(client.ok());
  Status s = (*client)->Initialize(OptimizerSpec{});
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("ps shard 0 (127.0.0.1:" + std::to_string(server->port()) + ")"),
            std::string::npos)
      << s.ToString();
}

TEST(PsAuth, MissingStaleAndReplayedTokensAreUnauthenticated) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto stub = ps::ParameterServer::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
  ps::PullRequest req;
  ps::PullResponse resp;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->Pull(&ctx, req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  const std::string method = "/tos.ps.ParameterServer/Pull";
  auto call = [&](const std::string& ts, const std::string& nonce, const std::string& m) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kAuthTsHeader, ts);
    ctx.AddMetadata(kAuthNonceHeader, nonce);
    ctx.AddMetadata(kAuthHeader, HmacSha256Hex(kSecret, AuthMessage(m, ts, nonce)));
    return stub->Pull(&ctx, req, &resp).error_code();
  };
  const std::string now = std::to_string(std::time(nullptr));
  EXPECT_EQ(call(now, "00112233445566778899aabbccddeeff", method), grpc::StatusCode::OK);
  EXPECT_EQ(call(now, "00112233445566778899aabbccddeeff", method),
            grpc::StatusCode::UNAUTHENTICATED);  // replay
  const std::string stale = std::to_string(std::time(nullptr) - 3600);
  EXPECT_EQ(call(stale, "10000000000000000000000000000001", method),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call(now, "10000000000000000000000000000002", "/tos.ps.ParameterServer/Push"),
            grpc::StatusCode::UNAUTHENTICATED);  // a token for another method
  EXPECT_EQ(call(now, "not-hex", method), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(call(now, "10000000000000000000000000000003", method), grpc::StatusCode::OK);
}

// A ps paused for less than node_timeout reads calls signed before its pause: their tokens
// stay valid for node_timeout plus skew (at least 120 s), no longer.
TEST(PsAuth, TokenWindowCoversTheJobsNodeTimeout) {
  const std::string method = "/tos.ps.ParameterServer/Pull";
  auto pull_signed_ago = [&](PsServer& server, int seconds_ago, const std::string& nonce) {
    auto stub = ps::ParameterServer::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));
    ps::PullRequest req;
    ps::PullResponse resp;
    grpc::ClientContext ctx;
    const std::string ts = std::to_string(std::time(nullptr) - seconds_ago);
    ctx.AddMetadata(kAuthTsHeader, ts);
    ctx.AddMetadata(kAuthNonceHeader, nonce);
    ctx.AddMetadata(kAuthHeader, HmacSha256Hex(kSecret, AuthMessage(method, ts, nonce)));
    return stub->Pull(&ctx, req, &resp).error_code();
  };
  {
    auto server = StartServer();
    ASSERT_TRUE(server);
    EXPECT_EQ(pull_signed_ago(*server, 100, "20000000000000000000000000000001"),
              grpc::StatusCode::OK);
    EXPECT_EQ(pull_signed_ago(*server, 200, "20000000000000000000000000000002"),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  ::setenv("TOS_NODE_TIMEOUT_MS", "300000", 1);
  auto server = StartServer();
  ::unsetenv("TOS_NODE_TIMEOUT_MS");
  ASSERT_TRUE(server);
  EXPECT_EQ(pull_signed_ago(*server, 200, "20000000000000000000000000000003"),
            grpc::StatusCode::OK);
  EXPECT_EQ(pull_signed_ago(*server, 340, "20000000000000000000000000000004"),
            grpc::StatusCode::OK);
  EXPECT_EQ(pull_signed_ago(*server, 400, "20000000000000000000000000000005"),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(PsHandover, ServerStartedOnReservedSocketServesThatPort) {
  auto reserved = ReservePort("127.0.0.1");
  ASSERT_TRUE(reserved.ok()) << reserved.status().ToString();
  const int port = reserved->port;
  auto plain_bind_fails = [port] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    int err = errno;
    close(fd);
    return r != 0 && err == EADDRINUSE;
  };
  EXPECT_TRUE(plain_bind_fails()) << "the reservation does not hold the port";
  PsServerOptions o;
  o.secret = kSecret;
  o.reserved_fd = reserved->fd;
  o.bind_host = "0.0.0.0";
  auto server = PsServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ((*server)->port(), port);
  EXPECT_TRUE(plain_bind_fails()) << "the port was free after the hand-over";
  torch::Tensor w = torch::ones({4});
  auto client = PsClient::Create(ClientOptions({port}), {{"w", w}});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Initialize(OptimizerSpec{}).ok());
  ASSERT_TRUE((*client)->WaitInitialized(10s).ok());
  EXPECT_TRUE(torch::equal(w, torch::ones({4})));
}

TEST(PsServerLifecycle, BadOptionsAndBusyPortAreReported) {
  PsServerOptions o;
  o.bind_host = "127.0.0.1";
  EXPECT_EQ(PsServer::Start(o).status().code(), StatusCode::kInvalidArgument);  // no secret
  o.secret = kSecret;
  o.shard = 2;
  EXPECT_EQ(PsServer::Start(o).status().code(), StatusCode::kInvalidArgument);  // shard 2 of 1
  o.shard = 0;
  // A port held by a socket without SO_REUSEPORT cannot be shared.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  o.port = ntohs(a.sin_port);
  auto s = PsServer::Start(o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("127.0.0.1:" + std::to_string(o.port)), std::string::npos)
      << s.status().ToString();
  close(fd);
}

TEST(PsServerLifecycle, StopRpcEndsWaitAndWaitTimesOut) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  EXPECT_EQ(server->Wait(50ms).code(), StatusCode::kTimeout);
  torch::Tensor w = torch::ones({1});
  auto client = PsClient::Create(ClientOptions({server->port()}), {{"w", w}});
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->StopServers().ok());
  EXPECT_TRUE(server->Wait(10s).ok());
}

TEST(PsClientErrors, UnreachablePsNamesAddressAndShard) {
  auto reserved = ReservePort("127.0.0.1");  // bound, never listening: connections are refused
  ASSERT_TRUE(reserved.ok());
  torch::Tensor w = torch::ones({1});
  auto opts = ClientOptions({reserved->port});
  opts.rpc_timeout = 300ms;
  auto client = PsClient::Create(opts, {{"w", w}});
  ASSERT_TRUE(client.ok());
  Status s = (*client)->Pull();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ps shard 0 (127.0.0.1:" + std::to_string(reserved->port) + ") Pull"),
            std::string::npos)
      << s.ToString();
  close(reserved->fd);
}

TEST(PsInit, FirstInitializeWinsLaterOnesChangeNothing) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  torch::Tensor a = torch::full({3}, 1.0f), b = torch::full({3}, 2.0f);
  auto ca = PsClient::Create(ClientOptions({server->port()}, 0), {{"w", a}}).value();
  auto cb = PsClient::Create(ClientOptions({server->port()}, 1), {{"w", b}}).value();
  ASSERT_TRUE(ca->Initialize(OptimizerSpec{}).ok());
  ASSERT_TRUE(cb->Initialize(OptimizerSpec{}).ok());
  ASSERT_TRUE(cb->WaitInitialized(10s).ok());
  EXPECT_TRUE(torch::equal(b, torch::full({3}, 1.0f)));
}

TEST(PsInit, PushWithAnotherModelIsRejected) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  torch::Tensor w = torch::ones({3});
  auto chief = PsClient::Create(ClientOptions({server->port()}), {{"w", w}}).value();
  ASSERT_TRUE(chief->Initialize(OptimizerSpec{}).ok());
  torch::Tensor other = torch::ones({4});
  other.mutable_grad() = torch::ones({4});
  auto worker = PsClient::Create(ClientOptions({server->port()}), {{"w", other}}).value();
  Status s = worker->PushGradients();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("wrong size"), std::string::npos) << s.ToString();
}

TEST(PsSync, GradientsOfAllWorkersAppliedOncePerStep) {
  auto server = StartServer(0, 1, /*sync=*/true, /*workers=*/2);
  ASSERT_TRUE(server);
  constexpr int kSteps = 5;
  std::vector<torch::Tensor> finals(2);
  std::vector<std::vector<int64_t>> steps_seen(2);
  {
    torch::Tensor w = torch::zeros({3});
    auto chief = PsClient::Create(ClientOptions({server->port()}), {{"w", w}});
    ASSERT_TRUE(chief.ok());
    OptimizerSpec sgd;
    sgd.type = "sgd";
    sgd.learning_rate = 1.0;
    ASSERT_TRUE((*chief)->Initialize(sgd).ok());
  }
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int k = 0; k < 2; ++k) {
    workers.emplace_back([&, k] {
      torch::Tensor w = torch::zeros({3});
      auto c = PsClient::Create(ClientOptions({server->port()}, k), {{"w", w}});
      if (!c.ok() || !(*c)->WaitInitialized(10s).ok()) return void(++failures);
      for (int s = 0; s < kSteps; ++s) {
        w.mutable_grad() = torch::full({3}, k == 0 ? 1.0f : 3.0f);  // mean 2
        if (k == 1) std::this_thread::sleep_for(5ms);               // arrive later
        if (!(*c)->PushGradients().ok()) return void(++failures);
        steps_seen[k].push_back((*c)->global_step());
      }
      finals[k] = w.clone();
    });
  }
  for (auto& t : workers) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(steps_seen[0], (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(steps_seen[1], steps_seen[0]);
  EXPECT_TRUE(torch::equal(finals[0], torch::full({3}, -2.0f * kSteps)));
  EXPECT_TRUE(torch::equal(finals[0], finals[1]));
}

// Uneven shards: worker 0 runs out of data after 2 steps and leaves; worker 1's remaining
// pushes (one already waiting for worker 0) complete at once, each a step of its own.
TEST(PsSync, AWorkerThatLeavesNoLongerHoldsUpTheRounds) {
  auto server = StartServer(0, 1, /*sync=*/true, /*workers=*/2);
  ASSERT_TRUE(server);
  torch::Tensor w0 = torch::zeros({3}), w1 = torch::zeros({3});
  auto c0 = PsClient::Create(ClientOptions({server->port()}, 0), {{"w", w0}}).value();
  auto c1 = PsClient::Create(ClientOptions({server->port()}, 1), {{"w", w1}}).value();
  OptimizerSpec sgd;
  sgd.type = "sgd";
  sgd.learning_rate = 1.0;
  ASSERT_TRUE(c0->Initialize(sgd).ok());
  ASSERT_TRUE(c1->WaitInitialized(10s).ok());
  w0.mutable_grad() = torch::full({3}, 1.0f);
  w1.mutable_grad() = torch::full({3}, 3.0f);
  for (int s = 0; s < 2; ++s) {
    Status p0;
    std::thread t([&] { p0 = c0->PushGradients(); });
    ASSERT_TRUE(c1->PushGradients().ok());
    t.join();
    ASSERT_TRUE(p0.ok()) << p0.ToString();
  }
  EXPECT_EQ(c1->global_step(), 2);
  Status waiting;
  auto start = std::chrono::steady_clock::now();
  std::thread t([&] { waiting = c1->PushGradients(); });  // waits for worker 0 ...
  ASSERT_TRUE(WaitForPushes(*server, 1)) << "worker 1's push never arrived";
  ASSERT_TRUE(c0->Leave().ok());  // ... which has no more data
  t.join();
  ASSERT_TRUE(waiting.ok()) << waiting.ToString();
  ASSERT_TRUE(c1->PushGradients().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s)
      << "the rounds waited for the sync timeout";
  EXPECT_EQ(c1->global_step(), 4);
  // Steps 1-2 applied the mean (2), steps 3-4 worker 1's own gradient (3).
  EXPECT_TRUE(torch::equal(w1, torch::full({3}, -2.0f * 2 - 3.0f * 2))) << w1;
  Status late = c0->PushGradients();
  EXPECT_EQ(late.code(), StatusCode::kInvalidArgument) << late.ToString();
  EXPECT_NE(late.message().find("worker 0 pushed after it left"), std::string::npos)
      << late.ToString();
}

TEST(PsSync, StopAbortsAPushWaitingForOtherWorkers) {
  auto server = StartServer(0, 1, /*sync=*/true, /*workers=*/2);
  ASSERT_TRUE(server);
  torch::Tensor w = torch::zeros({3});
  w.mutable_grad() = torch::ones({3});
  auto client = PsClient::Create(ClientOptions({server->port()}), {{"w", w}}).value();
  ASSERT_TRUE(client->Initialize(OptimizerSpec{}).ok());
  Status push;
  std::thread lonely([&] { push = client->PushGradients(); });  // worker 1 never comes
  ASSERT_TRUE(WaitForPushes(*server, 1)) << "the push never arrived";
  auto start = std::chrono::steady_clock::now();
  server->Stop();
  lonely.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_FALSE(push.ok());
  EXPECT_TRUE(push.code() == StatusCode::kAborted || push.code() == StatusCode::kUnavailable)
      << push.ToString();
  EXPECT_TRUE(server->Wait(10s).ok());
}

// A ps node in its own process, on a port reserved by the parent (inherited fd).
int PsNodeMain() {
  PsServerOptions o;
  o.shard = std::stoi(ChildArg("SHARD"));
  o.num_shards = std::stoi(ChildArg("NUM_SHARDS"));
  o.num_workers = std::stoi(ChildArg("NUM_WORKERS"));
  o.reserved_fd = std::stoi(ChildArg("FD"));
  o.secret = ChildArg("SECRET");
  o.bind_host = "127.0.0.1";
  auto server = PsServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "ps node: %s\n", server.status().ToString().c_str());
    return 2;
  }
  return (*server)->Wait(90s).ok() ? 0 : 3;
}
testing::RegisterRole ps_node_role("ps_node", &PsNodeMain);

TEST(PsClientErrors, WaitInitializedHonoursItsTimeoutWhenNoPsRuns) {
  auto reserved = ReservePort("127.0.0.1");  // nobody will ever listen here
  ASSERT_TRUE(reserved.ok());
  torch::Tensor w = torch::ones({1});
  auto opts = ClientOptions({reserved->port});
  opts.rpc_timeout = std::chrono::minutes(10);
  auto client = PsClient::Create(opts, {{"w", w}}).value();
  auto start = std::chrono::steady_clock::now();
  Status s = client->WaitInitialized(500ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(s.code(), StatusCode::kTimeout) << s.ToString();
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(reserved->port)), std::string::npos)
      << s.ToString();
  close(reserved->fd);
}

TEST(PsClientErrors, KilledPsIsReportedAtOnceNamingTheShard) {
  auto r = ReservePort("127.0.0.1");
  ASSERT_TRUE(r.ok());
  int inheritable = dup(r->fd);
  Child ps("ps_node", {{"SHARD", "0"},
                       {"NUM_SHARDS", "1"},
                       {"NUM_WORKERS", "1"},
                       {"FD", std::to_string(inheritable)},
                       {"SECRET", kSecret}});
  close(inheritable);
  close(r->fd);
  torch::Tensor w = torch::ones({8});
  w.mutable_grad() = torch::ones({8});
  auto opts = ClientOptions({r->port});
  opts.rpc_timeout = 60s;
  auto client = PsClient::Create(opts, {{"w", w}}).value();
  ASSERT_TRUE(client->Initialize(OptimizerSpec{}).ok());
  ASSERT_TRUE(client->PushGradients().ok());
  ps.Kill();
  auto start = std::chrono::steady_clock::now();
  Status s = client->PushGradients();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s)
      << "waited for the deadline instead of failing fast";
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("ps shard 0 (127.0.0.1:" + std::to_string(r->port) + ") Push"),
            std::string::npos)
      << s.ToString();
}

TEST(PsAsync, TwoPsProcessesTwoWorkersTrainMlp) {
  constexpr int kShards = 2, kWorkers = 2, kSteps = 30;
  std::vector<std::unique_ptr<Child>> ps;
  std::vector<int> ports;
  for (int s = 0; s < kShards; ++s) {
    auto r = ReservePort("127.0.0.1");
    ASSERT_TRUE(r.ok());
    int inheritable = dup(r->fd);  // dup clears FD_CLOEXEC: the child inherits this one
    ps.push_back(std::make_unique<Child>(
        "ps_node", std::map<std::string, std::string>{{"SHARD", std::to_string(s)},
                                                      {"NUM_SHARDS", std::to_string(kShards)},
                                                      {"NUM_WORKERS", std::to_string(kWorkers)},
                                                      {"FD", std::to_string(inheritable)},
                                                      {"SECRET", kSecret}}));
    close(inheritable);
    close(r->fd);
    ASSERT_TRUE(ps.back()->started());
    ports.push_back(r->port);
  }
  torch::manual_seed(1);
  auto data = torch::randint(0, 256, {200, 784}, torch::kUInt8);
  auto labels = data.to(torch::kFloat32)
                    .slice(1, 0, 392)
                    .sum(1)
                    .gt(data.to(torch::kFloat32).slice(1, 392).sum(1))
                    .to(torch::kInt64);
  std::vector<float> first_loss(kWorkers), last_loss(kWorkers);
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int k = 0; k < kWorkers; ++k) {
    workers.emplace_back([&, k] {
      torch::manual_seed(100 + k);  // different initial values: the chief's must win
      auto model = MakeModel("mlp").value();
      auto client = PsClient::Create(ClientOptions(ports, k), NamedParameters(*model));
      if (!client.ok()) return void(++failures);
      if (k == 0) {
        OptimizerSpec spec;  // adagrad 0.01 ... fast enough here with a larger rate
        spec.learning_rate = 0.1;
        if (!(*client)->Initialize(spec).ok()) return void(++failures);
      }
      if (!(*client)->WaitInitialized(20s).ok()) return void(++failures);
      for (int s = 0; s < kSteps; ++s) {
        auto idx = torch::randint(0, 200, {32}, torch::kInt64);
        model->zero_grad();
        auto loss = torch::nn::functional::cross_entropy(model->forward(data.index_select(0, idx)),
                                                         labels.index_select(0, idx));
        loss.backward();
        if (s == 0) first_loss[k] = loss.item<float>();
        last_loss[k] = loss.item<float>();
        Status st = (*client)->PushGradients();
        if (!st.ok()) {
          std::fprintf(stderr, "worker %d: %s\n", k, st.ToString().c_str());
          return void(++failures);
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  ASSERT_EQ(failures.load(), 0);
  auto model = MakeModel("mlp").value();
  auto client = PsClient::Create(ClientOptions(ports), NamedParameters(*model));
  ASSERT_TRUE(client.ok());
  auto state = (*client)->GetState();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->global_step, kWorkers * kSteps);
  EXPECT_EQ(state->params.size(), 4u);
  EXPECT_EQ(state->slots.size(), 4u);  // one adagrad accumulator per parameter
  EXPECT_LT(last_loss[0] + last_loss[1], first_loss[0] + first_loss[1]);
  ASSERT_TRUE((*client)->StopServers().ok());
  for (auto& p : ps) EXPECT_EQ(p->Wait(20s), 0);
}

}  // namespace
}  // namespace tos::train
