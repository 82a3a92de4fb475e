// A TorchOnSpark program used by the multi-process tests: one binary, driver and node, whose
// map_fun behaves according to --scenario. Records are text lines; nothing here is mocked.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "tos/shard_reader.h"
#include "tos/tos.h"
#include "tos/tuple_record.h"

namespace {

std::map<std::string, std::string> ParseFlags(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  for (size_t i = 0; i + 1 < args.size(); i += 2) f[args[i].substr(2)] = args[i + 1];
  return f;
}

std::string Flag(const std::map<std::string, std::string>& f, const std::string& k,
                 const std::string& d = "") {
  auto it = f.find(k);
  return it == f.end() ? d : it->second;
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The local launcher with every executor started through a wrapper program (argv: wrapper,
// then the node's own argv): the host tests use one that runs chosen executors in another
// network namespace. Not being the default launcher, it also makes the driver listen on every
// address and advertise a routable one, as on a real cluster.
class WrappingLauncher : public tos::Launcher {
 public:
  explicit WrappingLauncher(std::string wrapper)
      : wrapper_(std::move(wrapper)), inner_(tos::MakeLocalLauncher()) {}
  tos::Status Launch(const tos::LaunchSpec& spec,
                     std::function<void(const tos::ExecutorExit&)> on_exit) override {
    tos::LaunchSpec wrapped = spec;
    wrapped.argv.insert(wrapped.argv.begin(), wrapper_);
    return inner_->Launch(wrapped, std::move(on_exit));
  }
  void Signal(int id, int sig) override { inner_->Signal(id, sig); }
  void SignalAll(int sig) override { inner_->SignalAll(sig); }
  bool WaitAll(std::chrono::milliseconds timeout) override { return inner_->WaitAll(timeout); }
  std::vector<std::string> LastLines(int id) const override { return inner_->LastLines(id); }
  std::string LogPath(int id) const override { return inner_->LogPath(id); }
  void Stop() override { inner_->Stop(); }

 private:
  std::string wrapper_;
  std::unique_ptr<tos::Launcher> inner_;
};

void MapFun(const std::vector<std::string>& args, tos::Context& ctx) {
  auto f = ParseFlags(args);
  const std::string scenario = Flag(f, "scenario", "lifecycle");
  const std::string out = Flag(f, "out", ".");
  WriteFile(out + "/pid-" + std::to_string(ctx.executor_id()), std::to_string(::getpid()));
  if (const char* gpus = std::getenv("CUDA_VISIBLE_DEVICES"))
    WriteFile(out + "/gpus-" + std::to_string(ctx.executor_id()), gpus);
  if (ctx.job_name() == "ps" || ctx.job_name() == "evaluator") {
    ctx.SetStatus("serving until STOP");
    if (!ctx.WaitForStop(std::chrono::seconds(120)))
      throw std::runtime_error("no STOP within 120 s");
    WriteFile(out + "/stopped-" + ctx.job_name() + "-" + std::to_string(ctx.task_index()), "1");
    return;
  }
  const int wi = ctx.worker_index();
  uint64_t count = 0;
  uint64_t checksum = 0;
  auto consume = [&](const tos::Batch& b) {
    for (auto r : b) {
      ++count;
      for (char c : r) checksum = checksum * 31 + static_cast<unsigned char>(c);
    }
  };
  if (scenario == "direct") {
    std::shared_ptr<const tos::RecordSource> data =
        tos::ValueOrThrow(tos::OpenTextDataset(Flag(f, "data")));
    tos::ShardReaderOptions so;
    so.shard_index = wi;
    so.num_shards = ctx.num_workers();
    so.readers = std::stoi(Flag(f, "readers", "2"));
    so.shuffle_buffer = 100;
    auto reader = tos::ValueOrThrow(tos::ShardReader::Open(data, so));
    std::vector<std::string> batch;
    while (tos::ValueOrThrow(reader->NextBatch(64, &batch))) {
      for (auto& r : batch) {
        ++count;
        for (char c : r) checksum += static_cast<unsigned char>(c);
      }
    }
  } else if (scenario == "inference") {
    auto& feed = ctx.data_feed();
    while (!feed.should_stop()) {
      auto batch = feed.next_batch(std::stoul(Flag(f, "batch", "7")));
      if (batch.empty()) break;
      std::vector<std::string> results;
      for (auto r : batch) {
        if (batch.encoding() == "tuple") {  // "sum:<sum of every number>|<fields>"
          auto fields = tos::ValueOrThrow(tos::DecodeTupleRecord(r));
          double sum = 0;
          for (auto& fl : fields)
            for (size_t i = 0; fl.numeric() && i < fl.count; ++i) sum += fl.at(i);
          results.push_back("sum:" + std::to_string(static_cast<long long>(sum)) + "|" +
                            std::to_string(fields.size()));
        } else {
          results.push_back("out:" + std::string(r));
        }
      }
      feed.batch_results(results);
    }
  } else if (scenario == "two_feeds") {
    uint64_t validation = 0;
    std::thread t([&] {
      auto& v = ctx.data_feed("validation");
      while (true) {
        auto b = v.next_batch(10);
        if (b.empty()) break;
        validation += b.size();
      }
    });
    auto& feed = ctx.data_feed("train");
    while (true) {
      auto b = feed.next_batch(10);
      if (b.empty()) break;
      consume(b);
    }
    t.join();
    WriteFile(out + "/validation-" + std::to_string(wi), std::to_string(validation));
  } else {
    auto& feed = ctx.data_feed();
    int batches = 0;
    const int fail_after = std::stoi(Flag(f, "fail_after", "-1"));
    const int fail_worker = std::stoi(Flag(f, "fail_worker", "1"));
    while (!feed.should_stop()) {
      auto b = feed.next_batch(std::stoul(Flag(f, "batch", "100")));
      if (b.empty()) break;
      consume(b);
      ++batches;
      ctx.SetStatus("batch " + std::to_string(batches));
      if (int ms = std::stoi(Flag(f, "batch_sleep_ms", "0")); ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      if (wi == fail_worker && batches == fail_after) {
        if (scenario == "throw")
          throw std::runtime_error("simulated failure in batch " + std::to_string(batches));
        if (scenario == "kill") ::raise(SIGKILL);
        if (scenario == "freeze") ::raise(SIGSTOP);  // every thread stops, sockets stay open
        if (scenario == "stall") {
          ctx.SetStatus("stalled on purpose");
          std::this_thread::sleep_for(std::chrono::seconds(600));
        }
        if (scenario == "terminate") {
          feed.terminate();
          break;
        }
      }
    }
  }
  WriteFile(out + "/count-" + std::to_string(wi),
            std::to_string(count) + " " + std::to_string(checksum));
}

int Driver(const std::vector<std::string>& args) {
  auto f = ParseFlags(args);
  tos::ClusterOptions o;
  o.num_executors = std::stoi(Flag(f, "num_executors", "3"));
  o.num_ps = std::stoi(Flag(f, "num_ps", "1"));
  o.master_node = Flag(f, "chief", "0") == "1";
  o.eval_node = Flag(f, "evaluator", "0") == "1";
  o.input_mode = Flag(f, "input_mode", "spark") == "tensorflow" ? tos::InputMode::kTensorflow
                                                                : tos::InputMode::kSpark;
  o.reservation_timeout = std::chrono::seconds(std::stoi(Flag(f, "reservation_timeout", "30")));
  o.feed_timeout = std::chrono::seconds(std::stoi(Flag(f, "feed_timeout", "30")));
  o.log_dir = Flag(f, "out", ".") + "/logs";
  o.stall_warning = std::chrono::seconds(std::stoi(Flag(f, "stall_warning", "60")));
  o.node_timeout = std::chrono::seconds(std::stoi(Flag(f, "node_timeout", "60")));
  o.gpus_per_node = std::stoi(Flag(f, "gpus_per_node", "0"));
  o.tensorboard = Flag(f, "tensorboard", "0") == "1";
  if (f.count("queue_bytes")) o.node_env["TOS_FEED_QUEUE_BYTES"] = Flag(f, "queue_bytes");
  if (f.count("node_wrapper"))
    o.launcher = std::make_shared<WrappingLauncher>(Flag(f, "node_wrapper"));
  auto cluster = tos::Cluster::Run(o);
  if (!cluster.ok()) {
    std::cerr << "ERROR: " << cluster.status().ToString() << std::endl;
    return 1;
  }
  const std::string scenario = Flag(f, "scenario", "lifecycle");
  tos::Status st;
  std::unique_ptr<tos::RecordSource> data, validation;
  if (f.count("data")) {
    auto d = tos::OpenTextDataset(Flag(f, "data"));
    if (!d.ok()) {
      std::cerr << "ERROR: " << d.status().ToString() << std::endl;
      return 1;
    }
    data = std::move(d).value();
  }
  if (scenario == "inference") {
    st = (*cluster)->Inference(*data, Flag(f, "output"), "input", true);
  } else if (scenario == "two_feeds") {
    validation = tos::OpenTextDataset(Flag(f, "validation")).value();
    st = (*cluster)->TrainFeeds({{"train", data.get(), std::stoi(Flag(f, "epochs", "1"))},
                                 {"validation", validation.get(), 1}});
  } else if (o.input_mode == tos::InputMode::kSpark) {
    st = (*cluster)->Train(*data, std::stoi(Flag(f, "epochs", "1")));
  }
  if (!st.ok()) {
    std::cerr << "ERROR: " << st.ToString() << std::endl;
    (void)(*cluster)->Shutdown();
    return 1;
  }
  if (o.tensorboard) {
    // Heartbeats carry the chief's TensorBoard URL or the command to run; wait for either
    // before shutting down (a loaded machine can take seconds).
    for (int i = 0; i < 600 && (*cluster)->urls().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cout << "tensorboard_url() = '" << (*cluster)->tensorboard_url() << "'" << std::endl;
  }
  st = (*cluster)->Shutdown(std::chrono::seconds(0),
                            std::chrono::seconds(std::stoi(Flag(f, "timeout", "60"))));
  if (!st.ok()) {
    std::cerr << "ERROR: " << st.ToString() << std::endl;
    return 1;
  }
  std::cout << "JOB OK" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Simulates an executor that never starts: it never registers.
  if (tos::IsNodeProcess()) {
    const char* skip = std::getenv("TOS_TEST_SKIP_EXECUTOR");
    const char* id = std::getenv("TOS_EXECUTOR_ID");
    if (skip && id && std::string(skip) == id) {
      std::this_thread::sleep_for(std::chrono::seconds(600));
      return 0;
    }
  }
  return tos::Main(argc, argv, MapFun, Driver);
}
