// Feeding the trainers: each named feed's partitions go to the chief and workers through
// feed::RunFeed, with a status line of the rate, and the job's failure preferred over a
// broken connection's when a node died.
#include <algorithm>

#include "cluster/cluster_impl.h"
#include "tos/log.h"
#include "util/console.h"

namespace tos {

std::vector<feed::FeedTarget> Cluster::Impl::Trainers() const {
  std::vector<std::pair<int, feed::FeedTarget>> t;
  std::lock_guard<std::mutex> lock(mu);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].trainer()) continue;
    auto it = regs.find(static_cast<int>(i));
    if (it == regs.end()) continue;
    feed::FeedTarget target;
    target.executor_id = static_cast<int>(i);
    target.label = nodes[i].label;
    target.address = {it->second.host, it->second.feed_port};
    int order = nodes[i].role.job_name == "chief" ? -1 : nodes[i].role.task_index;
    t.emplace_back(order, target);
  }
  std::sort(t.begin(), t.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<feed::FeedTarget> out;
  out.reserve(t.size());
  for (auto& [o, target] : t) out.push_back(target);
  return out;
}

Status Cluster::Impl::RunFeeds(const std::vector<Cluster::NamedFeed>& feeds, feed::FeedMode mode,
                               const std::string& output_dir) {
  TOS_RETURN_IF_ERROR(CurrentFailure());
  auto targets = Trainers();
  auto cancel = std::make_shared<net::CancelToken>();
  size_t total_targets = targets.size() * feeds.size();
  std::vector<feed::TargetProgress> prog(total_targets);
  {
    std::lock_guard<std::mutex> lock(mu);
    active_feed = cancel;
    progress = &prog;
    progress_name = feeds.size() == 1 ? feeds[0].name : std::to_string(feeds.size()) + " feeds";
    last_rate_at = Clock::now();
    last_records = 0;
  }
  std::vector<Status> results(feeds.size());
  std::vector<std::thread> threads;
  for (size_t f = 0; f < feeds.size(); ++f) {
    threads.emplace_back([&, f] {
      feed::FeedJob job;
      job.secret = secret;
      job.feed_name = feeds[f].name;
      job.mode = mode;
      job.epochs = feeds[f].epochs;
      job.encoding = feeds[f].data->encoding();
      job.feed_timeout = opts.feed_timeout;
      job.output_dir = output_dir;
      job.cancel = cancel.get();
      job.describe_node = [this](int id) {
        std::lock_guard<std::mutex> lock(mu);
        return std::to_string(nodes[id].progress) + " records consumed and is '" + nodes[id].state +
               "'";
      };
      // This feed's counters are its slice of the vector the status line reads.
      job.progress = prog.empty() ? nullptr : prog.data() + f * targets.size();
      results[f] = feed::RunFeed(*feeds[f].data, targets, job);
      uint64_t total = 0;
      for (size_t t = 0; job.progress && t < targets.size(); ++t)
        total += job.progress[t].records_sent;
      LogInfo("feed '" + feeds[f].name + "': " + std::to_string(total) + " records sent to " +
              std::to_string(targets.size()) + " nodes");
    });
  }
  for (auto& t : threads) t.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    active_feed.reset();
    progress = nullptr;
  }
  ConsoleStatus("");
  for (auto& r : results) {
    // A broken feed connection usually means its node died: give the node's own report
    // (exit status, signal, log lines) the moment it takes to arrive, and prefer it.
    if (r.code() == StatusCode::kUnavailable) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, kNodeReportWait, [&] { return !failure.ok(); });
    }
  }
  Status fail = CurrentFailure();
  if (!fail.ok()) return fail;
  for (auto& r : results) {
    if (!r.ok()) {
      Fail(r);
      return r;
    }
  }
  return Status::OK();
}

}  // namespace tos
