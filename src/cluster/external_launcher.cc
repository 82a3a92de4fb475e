// The launcher for executors that someone else starts (the Spark bridge starts them in
// Spark tasks): it learns of exits only through the control channel.
#include <condition_variable>
#include <mutex>
#include <set>

#include "tos/launcher.h"

namespace tos {
namespace {

class ExternalLauncher : public Launcher {
 public:
  explicit ExternalLauncher(std::function<void(const LaunchSpec&)> on_launch)
      : on_launch_(std::move(on_launch)) {}

  Status Launch(const LaunchSpec& spec, std::function<void(const ExecutorExit&)> on_exit) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      on_exit_ = std::move(on_exit);
    }
    if (on_launch_) on_launch_(spec);
    return Status::OK();
  }

  void Signal(int, int) override {}
  void SignalAll(int) override {}

  // Waits for the nodes that ever connected; one that never registered cannot be waited for.
  bool WaitAll(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return connected_.empty(); });
  }

  std::vector<std::string> LastLines(int) const override { return {}; }
  std::string LogPath(int) const override { return ""; }

  void NodeConnected(int executor_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    connected_.insert(executor_id);
  }

  void NodeDisconnected(int executor_id, bool finished, bool failed) override {
    std::function<void(const ExecutorExit&)> on_exit;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connected_.erase(executor_id);
      cv_.notify_all();
      on_exit = on_exit_;
    }
    if (!on_exit || (!finished && !failed)) return;
    ExecutorExit ex;
    ex.executor_id = executor_id;
    ex.exit_code = finished && !failed ? 0 : 1;  // what the node runner exits with
    on_exit(ex);
  }

 private:
  std::function<void(const LaunchSpec&)> on_launch_;
  std::function<void(const ExecutorExit&)> on_exit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int> connected_;
};

}  // namespace

std::unique_ptr<Launcher> MakeExternalLauncher(std::function<void(const LaunchSpec&)> on_launch) {
  return std::make_unique<ExternalLauncher>(std::move(on_launch));
}

}  // namespace tos
