// Feed-path benchmark: records/s from the driver into the nodes' next_batch(), with real
// node processes on this machine, and start-up latency (launch -> all nodes registered).
//
//   build/bin/bench_feed [--records N] [--record_bytes 784] [--batch 100]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "tos/tos.h"

namespace {

using Clock = std::chrono::steady_clock;

// Records generated on the fly, so the benchmark measures the feed, not the disk.
class GeneratedSource : public tos::RecordSource {
 public:
  GeneratedSource(size_t partitions, size_t per_partition, size_t bytes)
      : partitions_(partitions), per_partition_(per_partition), bytes_(bytes) {}
  size_t num_partitions() const override { return partitions_; }
  tos::Result<std::unique_ptr<tos::PartitionReader>> OpenPartition(size_t i) const override {
    return std::unique_ptr<tos::PartitionReader>(new Reader(per_partition_, bytes_, i));
  }
  std::string Describe() const override { return "generated records"; }

 private:
  class Reader : public tos::PartitionReader {
   public:
    Reader(size_t n, size_t bytes, size_t seed) : n_(n), rec_(bytes, static_cast<char>(seed)) {}
    tos::Result<bool> Next(std::string_view* r) override {
      if (i_++ >= n_) return false;
      rec_[0] = static_cast<char>(i_);
      *r = rec_;
      return true;
    }

   private:
    size_t n_, i_ = 0;
    std::string rec_;
  };
  size_t partitions_, per_partition_, bytes_;
};

std::string Arg(const std::vector<std::string>& a, const std::string& k, const std::string& d) {
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == k) return a[i + 1];
  return d;
}

void MapFun(const std::vector<std::string>& args, tos::Context& ctx) {
  if (ctx.job_name() != "worker") return;
  const size_t batch = std::stoul(Arg(args, "--batch", "100"));
  auto& feed = ctx.data_feed();
  uint64_t n = 0, sum = 0;
  auto start = Clock::now();
  for (;;) {
    auto b = feed.next_batch(batch);
    if (b.empty()) break;
    for (auto r : b) sum += static_cast<unsigned char>(r[r.size() - 1]);  // touch every record
    n += b.size();
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("consumed %llu records in %.3f s (checksum %llu)\n",
              static_cast<unsigned long long>(n), secs, static_cast<unsigned long long>(sum));
}

struct FeedResult {
  double records_per_s;
  double mb_per_s;
};

FeedResult RunFeed(int workers, size_t records, size_t bytes) {
  tos::ClusterOptions o;
  o.num_executors = workers;
  o.num_ps = 0;
  o.log_dir = "/tmp/tos_bench_logs/feed-" + std::to_string(workers);
  o.echo_node_output = false;
  auto cluster = tos::ValueOrThrow(tos::Cluster::Run(o));
  GeneratedSource source(10 * workers, records / (10 * workers), bytes);
  auto start = Clock::now();
  tos::ThrowIfError(cluster->Train(source, 1));
  tos::ThrowIfError(cluster->Shutdown());
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double total = static_cast<double>(records);
  return {total / secs, total * bytes / secs / 1e6};
}

double StartupSeconds(int nodes) {
  tos::ClusterOptions o;
  o.num_executors = nodes;
  o.num_ps = 1;
  o.log_dir = "/tmp/tos_bench_logs/startup";
  o.echo_node_output = false;
  auto start = Clock::now();
  auto cluster = tos::ValueOrThrow(tos::Cluster::Run(o));
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  GeneratedSource empty(1, 0, 1);
  tos::ThrowIfError(cluster->Train(empty, 1));
  tos::ThrowIfError(cluster->Shutdown());
  return secs;
}

int Driver(const std::vector<std::string>& args) {
  const size_t records = std::stoul(Arg(args, "--records", "2000000"));
  const size_t bytes = std::stoul(Arg(args, "--record_bytes", "784"));
  std::printf(
      "== feed throughput: %zu records of %zu bytes into next_batch(%s), real node processes\n",
      records, bytes, Arg(args, "--batch", "100").c_str());
  std::printf("%-10s %16s %16s %10s\n", "workers", "records/s", "per worker", "MB/s");
  for (int w : {1, 2}) {
    auto r = RunFeed(w, records, bytes);
    std::printf("%-10d %16.0f %16.0f %10.1f\n", w, r.records_per_s, r.records_per_s / w,
                r.mb_per_s);
    std::fflush(stdout);
  }
  std::vector<double> lat;
  for (int i = 0; i < 5; ++i) lat.push_back(StartupSeconds(3));
  std::sort(lat.begin(), lat.end());
  std::printf(
      "== start-up latency, launch -> all 3 nodes registered: median %.3f s (min %.3f, max %.3f)\n",
      lat[2], lat[0], lat[4]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tos::Main(argc, argv, MapFun, Driver); }
