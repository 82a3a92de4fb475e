// Context::State: everything the node runner sets up for map_fun.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

#include "feed/queue.h"
#include "tos/context.h"

namespace tos {

struct Context::State {
  int executor_id = -1;
  std::string job_name;
  int task_index = 0;
  ClusterSpec cluster;
  int num_executors = 0;
  InputMode input_mode = InputMode::kSpark;
  std::string default_fs = "file://";
  std::string working_dir;
  std::string log_dir;
  std::string user;
  int threads = 1;
  std::string reservation_address;
  std::string secret;
  std::unique_ptr<ReservedPort> reserved;
  feed::FeedRegistry* feeds = nullptr;

  mutable std::mutex mu;
  mutable std::condition_variable stop_cv;
  bool stop = false;
  std::string status = "starting";
  std::atomic<uint64_t> progress{0};
  std::map<std::string, std::unique_ptr<DataFeed>> data_feeds;
  std::map<std::string, std::string> urls;
};

// Pure function behind Context::absolute_path, exposed for tests.
std::string ResolvePath(const std::string& path, const std::string& default_fs,
                        const std::string& working_dir, const std::string& user);

}  // namespace tos
