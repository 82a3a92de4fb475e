// Allreduce over Gloo with real processes on 127.0.0.1: parameters start from the chief's,
// stay bit-identical, buckets split as configured, a dead rank makes the others fail fast.
#include "tos/train/allreduce.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "tos/train/gloo_collectives.h"
#include "tos/train/models.h"
#include "tos/train/tcp_collectives.h"
#include "tos/train/threads.h"
#include "train/test_util.h"

namespace tos::train {
namespace {

#ifdef TOS_HAVE_GLOO
#define SKIP_WITHOUT_GLOO() (void)0
#else
#define SKIP_WITHOUT_GLOO() GTEST_SKIP() << "libtorch without c10d Gloo headers"
#endif

using namespace std::chrono_literals;
using testing::Child;
using testing::ChildArg;

std::string ParamBytes(const torch::nn::Module& m) {
  std::string out;
  for (const auto& p : m.parameters()) {
    auto c = p.detach().contiguous();
    out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  }
  return out;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

c10::intrusive_ptr<c10d::Store> ChildStore(int size) {
  if (!ChildArg("STORE_FILE").empty())
    return c10::make_intrusive<c10d::FileStore>(ChildArg("STORE_FILE"), size);
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(std::stoi(ChildArg("STORE_PORT")));
  o.isServer = false;
  o.timeout = 30s;
  return c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
}

// One data-parallel rank: trains the mlp for 20 steps on its own random data.
int AllreduceRankMain() {
  const int rank = std::stoi(ChildArg("RANK")), size = std::stoi(ChildArg("SIZE"));
  const std::string out = ChildArg("OUT");
  if (!ConfigureThreads(1).ok()) return 2;
  const auto timeout = std::chrono::milliseconds(std::stoi(ChildArg("TIMEOUT_MS")));
  Result<std::unique_ptr<Collectives>> coll = Unimplemented("no transport");
  if (ChildArg("TRANSPORT") == "tcp") {
    TcpCollectivesOptions to;
    to.rank = rank;
    to.size = size;
    to.timeout = timeout;
    coll = CreateTcpCollectives(ChildStore(size), to);
  } else {
    GlooOptions go;
    go.rank = rank;
    go.size = size;
    go.timeout = timeout;
    coll = CreateGlooCollectives(ChildStore(size), go);
  }
  if (!coll.ok()) {
    std::fprintf(stderr, "%s\n", coll.status().ToString().c_str());
    return 3;
  }
  torch::manual_seed(1000 + rank);
  auto model = MakeModel("mlp").value();
  AllreduceOptions ao;
  ao.bucket_cap_bytes = std::stoul(ChildArg("BUCKET_CAP"));
  auto ar = GradientAllreducer::Create(coll->get(), model->parameters(), ao);
  if (!ar.ok()) return 4;
  WriteFile(out + ".buckets", std::to_string((*ar)->num_buckets()));
  if (!(*ar)->BroadcastParameters(0).ok()) return 5;
  WriteFile(out + ".init", ParamBytes(*model));
  if (ChildArg("DIE_AFTER_INIT") == std::to_string(rank)) _exit(0);  // a rank that disappears
  torch::optim::Adagrad opt(model->parameters(), torch::optim::AdagradOptions(0.01));
  for (int step = 0; step < 20; ++step) {
    auto x = torch::randint(0, 256, {16, 784}, torch::kUInt8);
    auto y = torch::randint(0, 10, {16}, torch::kInt64);
    opt.zero_grad();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    Status s = (*ar)->AverageGradients();
    if (!s.ok()) {
      WriteFile(out + ".error", s.ToString());
      return 6;
    }
    opt.step();
  }
  WriteFile(out + ".final", ParamBytes(*model));
  if (ChildArg("SECOND_RING") == "1") {
    // A second ring over the same store and prefix, while the first still exists.
    TcpCollectivesOptions to;
    to.rank = rank;
    to.size = size;
    to.timeout = timeout;
    auto second = CreateTcpCollectives(ChildStore(size), to);
    if (!second.ok()) {
      WriteFile(out + ".error", second.status().ToString());
      return 7;
    }
    torch::Tensor t = torch::full({1000}, static_cast<float>(rank + 1));
    Status s = (*second)->AllreduceSum(t);
    if (!s.ok()) {
      WriteFile(out + ".error", s.ToString());
      return 8;
    }
    WriteFile(out + ".second", std::to_string(t[999].item<float>()));
  }
  return 0;
}
testing::RegisterRole allreduce_rank_role("allreduce_rank", &AllreduceRankMain);

struct RunResult {
  std::vector<int> codes;
  std::string dir;
};

RunResult RunRanks(int size, std::map<std::string, std::string> extra, bool tcp_store,
                   const std::string& transport = "gloo") {
  extra["TRANSPORT"] = transport;
  RunResult r;
  r.dir = testing::MakeTempDir("allreduce");
  c10::intrusive_ptr<c10d::TCPStore> server;
  std::map<std::string, std::string> common = extra;
  common["SIZE"] = std::to_string(size);
  if (!common.count("TIMEOUT_MS")) common["TIMEOUT_MS"] = "30000";
  if (!common.count("BUCKET_CAP")) common["BUCKET_CAP"] = std::to_string(25u << 20);
  if (tcp_store) {
    c10d::TCPStoreOptions o;
    o.port = 0;
    o.isServer = true;
    o.waitWorkers = false;
    o.timeout = 30s;
    server = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
    common["STORE_PORT"] = std::to_string(server->getPort());
  } else {
    common["STORE_FILE"] = r.dir + "/store";
  }
  std::vector<std::unique_ptr<Child>> ranks;
  for (int k = 0; k < size; ++k) {
    auto args = common;
    args["RANK"] = std::to_string(k);
    args["OUT"] = r.dir + "/rank" + std::to_string(k);
    ranks.push_back(std::make_unique<Child>("allreduce_rank", args));
  }
  for (auto& c : ranks) r.codes.push_back(c->Wait(90s));
  return r;
}

TEST(Allreduce, TwoProcessesStayBitIdenticalFileStore) {
  SKIP_WITHOUT_GLOO();
  auto r = RunRanks(2, {}, /*tcp_store=*/false);
  ASSERT_EQ(r.codes, (std::vector<int>{0, 0}));
  const std::string init0 = ReadFile(r.dir + "/rank0.init"),
                    init1 = ReadFile(r.dir + "/rank1.init");
  const std::string fin0 = ReadFile(r.dir + "/rank0.final"),
                    fin1 = ReadFile(r.dir + "/rank1.final");
  ASSERT_EQ(init0.size(), (784 * 128 + 128 + 128 * 10 + 10) * 4u);
  EXPECT_TRUE(init0 == init1) << "rank 1 did not start from the chief's parameters";
  EXPECT_TRUE(fin0 == fin1) << "parameters diverged across ranks";
  EXPECT_FALSE(fin0 == init0) << "no training happened";
  EXPECT_EQ(ReadFile(r.dir + "/rank0.buckets"), "1");
}

TEST(Allreduce, SmallBucketsOverTcpStoreGiveIdenticalParameters) {
  SKIP_WITHOUT_GLOO();
  auto r = RunRanks(2, {{"BUCKET_CAP", "8192"}}, /*tcp_store=*/true);
  ASSERT_EQ(r.codes, (std::vector<int>{0, 0}));
  EXPECT_EQ(ReadFile(r.dir + "/rank0.buckets"), "2");  // fc1.weight alone, then the rest
  EXPECT_TRUE(ReadFile(r.dir + "/rank0.final") == ReadFile(r.dir + "/rank1.final"));
}

TEST(Allreduce, DeadRankMakesTheOtherFailFast) {
  SKIP_WITHOUT_GLOO();
  auto start = std::chrono::steady_clock::now();
  auto r = RunRanks(2, {{"DIE_AFTER_INIT", "1"}, {"TIMEOUT_MS", "5000"}}, /*tcp_store=*/false);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.codes.size(), 2u);
  EXPECT_EQ(r.codes[1], 0);
  EXPECT_EQ(r.codes[0], 6) << "rank 0 should report the failed allreduce";
  EXPECT_NE(ReadFile(r.dir + "/rank0.error").find("rank 0 of 2"), std::string::npos);
  EXPECT_LT(took, 60s);
}

TEST(TcpCollectives, TwoProcessesStayBitIdentical) {
  auto r = RunRanks(2, {}, /*tcp_store=*/false, "tcp");
  ASSERT_EQ(r.codes, (std::vector<int>{0, 0}));
  const std::string init0 = ReadFile(r.dir + "/rank0.init"),
                    fin0 = ReadFile(r.dir + "/rank0.final");
  ASSERT_EQ(init0.size(), (784 * 128 + 128 + 128 * 10 + 10) * 4u);
  EXPECT_TRUE(init0 == ReadFile(r.dir + "/rank1.init"))
      << "rank 1 did not start from the chief's parameters";
  EXPECT_TRUE(fin0 == ReadFile(r.dir + "/rank1.final")) << "parameters diverged across ranks";
  EXPECT_FALSE(fin0 == init0) << "no training happened";
}

TEST(TcpCollectives, ASecondRingOverTheSameStoreMeetsItsOwnPeers) {
  auto start = std::chrono::steady_clock::now();
  auto r = RunRanks(3, {{"SECOND_RING", "1"}, {"TIMEOUT_MS", "20000"}}, /*tcp_store=*/true, "tcp");
  ASSERT_EQ(r.codes, (std::vector<int>{0, 0, 0})) << ReadFile(r.dir + "/rank0.error");
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(ReadFile(r.dir + "/rank" + std::to_string(k) + ".second"), "6.000000") << k;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);  // no wait on the first ring's ports
}

TEST(TcpCollectives, ThreeRanksOverTcpStoreWithSmallBuckets) {
  auto r = RunRanks(3, {{"BUCKET_CAP", "8192"}}, /*tcp_store=*/true, "tcp");
  ASSERT_EQ(r.codes, (std::vector<int>{0, 0, 0}));
  const std::string fin0 = ReadFile(r.dir + "/rank0.final");
  ASSERT_FALSE(fin0.empty());
  EXPECT_TRUE(fin0 == ReadFile(r.dir + "/rank1.final"));
  EXPECT_TRUE(fin0 == ReadFile(r.dir + "/rank2.final"));
  EXPECT_TRUE(ReadFile(r.dir + "/rank0.init") == ReadFile(r.dir + "/rank2.init"));
}

TEST(TcpCollectives, DeadRankMakesTheOtherFailFastNamingIt) {
  auto start = std::chrono::steady_clock::now();
  auto r =
      RunRanks(2, {{"DIE_AFTER_INIT", "1"}, {"TIMEOUT_MS", "20000"}}, /*tcp_store=*/false, "tcp");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.codes, (std::vector<int>{6, 0}));
  const std::string err = ReadFile(r.dir + "/rank0.error");
  EXPECT_NE(err.find("rank 1"), std::string::npos) << err;
  EXPECT_NE(err.find("is gone"), std::string::npos) << err;
  EXPECT_LT(took, 15s) << "a closed connection must be noticed before the timeout";
}

// Bucketing logic without a network: a one-rank collective leaves the gradient unchanged.
class LocalCollectives : public Collectives {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status Broadcast(torch::Tensor&, int) override { return Status::OK(); }
  Status AllreduceSum(torch::Tensor&) override { return Status::OK(); }
  Status Barrier() override { return Status::OK(); }
};

TEST(Allreduce, BucketsFollowTheCapAndUndefinedGradsBecomeZero) {
  LocalCollectives local;
  std::vector<torch::Tensor> params = {torch::ones({10}, torch::requires_grad()),
                                       torch::ones({10}, torch::requires_grad()),
                                       torch::ones({30}, torch::requires_grad())};
  AllreduceOptions o;
  o.bucket_cap_bytes = 80;  // 20 floats
  auto ar = GradientAllreducer::Create(&local, params, o);
  ASSERT_TRUE(ar.ok());
  EXPECT_EQ((*ar)->num_buckets(), 2u);  // {10,10} and {30}
  params[0].mutable_grad() = torch::full({10}, 2.0f);
  ASSERT_TRUE((*ar)->AverageGradients().ok());
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::full({10}, 2.0f)));
  ASSERT_TRUE(params[2].grad().defined());
  EXPECT_TRUE(torch::equal(params[2].grad(), torch::zeros({30})));
}

}  // namespace
}  // namespace tos::train
