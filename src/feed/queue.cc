#include "feed/queue.h"

namespace tos::feed {

FeedQueue::FeedQueue(std::string name, size_t capacity_bytes,
                     std::chrono::milliseconds feed_timeout)
    : name_(std::move(name)), capacity_bytes_(capacity_bytes), feed_timeout_(feed_timeout) {}

Status FeedQueue::Push(std::shared_ptr<Chunk> chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  bool room = not_full_.wait_for(
      lock, feed_timeout_, [&] { return bytes_ < capacity_bytes_ || terminated_ || shutdown_; });
  if (!room) {
    return Timeout("feed '" + name_ + "': its consumer read nothing for " +
                   std::to_string(feed_timeout_.count() / 1000) + " s while the queue was full (" +
                   std::to_string(bytes_) + " bytes); is map_fun still reading it? (feed_timeout)");
  }
  if (terminated_) return Aborted("feed '" + name_ + "' was terminated by the consumer");
  if (shutdown_) return Aborted("node is shutting down");
  bytes_ += chunk->bytes;
  queue_.push_back(std::move(chunk));
  not_empty_.notify_all();
  return Status::OK();
}

void FeedQueue::Attach(const std::shared_ptr<SenderLink>& link) {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    links_.insert(link);
    notify = terminated_;
  }
  if (notify) link->NotifyTerminate();
}

void FeedQueue::Detach(const std::shared_ptr<SenderLink>& link) {
  std::lock_guard<std::mutex> lock(mu_);
  links_.erase(link);
}

void FeedQueue::Fail(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.ok()) failed_ = status;
  not_empty_.notify_all();
}

void FeedQueue::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  not_empty_.notify_all();
  not_full_.notify_all();
  stream_free_.notify_all();
}

bool FeedQueue::terminated() const {
  std::lock_guard<std::mutex> lock(mu_);
  return terminated_;
}

Result<uint64_t> FeedQueue::ClaimStream(const std::string& stream, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  Stream& s = streams_[stream];
  if (!stream_free_.wait_for(lock, wait, [&] { return !s.held || shutdown_ || terminated_; })) {
    return Timeout("feed '" + name_ + "': stream " + stream + " is still held by another " +
                   "connection after " + std::to_string(wait.count() / 1000) +
                   " s (a Spark task attempt that neither ends nor fails)");
  }
  s.held = true;
  return s.taken;
}

void FeedQueue::StreamTaken(const std::string& stream, uint64_t records) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_[stream].taken += records;
}

void FeedQueue::ReleaseStream(const std::string& stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_[stream].held = false;
  stream_free_.notify_all();
}

Batch FeedQueue::NextBatch(size_t n) {
  Batch batch;
  std::unique_lock<std::mutex> lock(mu_);
  if (results_due_ > 0) {
    throw Error(InvalidArgument(
        "feed '" + name_ + "': next_batch() called before batch_results() returned the " +
        std::to_string(results_due_) + " results of the previous inference batch"));
  }
  if (terminated_ || n == 0) return batch;
  batch.records_.reserve(n);
  FeedMode mode = FeedMode::kTrain;
  std::shared_ptr<SenderLink> sender;
  while (batch.records_.size() < n) {
    if (!failed_.ok()) throw Error(failed_.WithContext("feed '" + name_ + "'"));
    if (current_ && current_pos_ < current_->records.size()) {
      size_t take = std::min(n - batch.records_.size(), current_->records.size() - current_pos_);
      batch.records_.insert(batch.records_.end(), current_->records.begin() + current_pos_,
                            current_->records.begin() + current_pos_ + take);
      current_pos_ += take;
      mode = current_->mode;
      batch.encoding_ = current_->encoding;
      sender = current_->sender;
      if (batch.keep_.empty() || batch.keep_.back() != current_) batch.keep_.push_back(current_);
      continue;
    }
    if (ended_) break;
    if (queue_.empty()) {
      if (shutdown_) break;
      auto deadline = std::chrono::steady_clock::now() + feed_timeout_;
      waiting_ = true;
      bool ready = not_empty_.wait_until(lock, deadline, [&] {
        return !queue_.empty() || !failed_.ok() || terminated_ || shutdown_;
      });
      waiting_ = false;
      if (!ready) {
        throw Error(Timeout("feed '" + name_ + "': no data arrived for " +
                            std::to_string(feed_timeout_.count() / 1000) + " s after " +
                            std::to_string(consumed_) +
                            " records; is the driver still feeding? (feed_timeout)"));
      }
      if (terminated_) break;
      continue;
    }
    auto chunk = queue_.front();
    queue_.pop_front();
    bytes_ -= chunk->bytes;
    not_full_.notify_all();
    if (chunk->kind == Chunk::kEnd) {
      ended_ = true;
      break;
    }
    if (chunk->kind == Chunk::kPartitionEnd) {
      // In inference mode a batch never spans partitions.
      if (chunk->mode == FeedMode::kInference && !batch.records_.empty()) break;
      continue;
    }
    if (chunk->mode == FeedMode::kInference && !batch.records_.empty() && chunk->sender != sender) {
      // Nor senders (several Spark tasks may feed one node): results go back to one sender.
      queue_.push_front(chunk);
      bytes_ += chunk->bytes;
      break;
    }
    current_ = chunk;
    current_pos_ = 0;
  }
  consumed_ += batch.records_.size();
  if (mode == FeedMode::kInference && !batch.records_.empty()) {
    results_due_ = batch.records_.size();
    results_to_ = sender;
    batch.inference_ = true;
  }
  return batch;
}

bool FeedQueue::ShouldStop() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (terminated_) return true;
  if (!failed_.ok()) return false;  // the next next_batch() reports the failure
  if (current_ && current_pos_ < current_->records.size()) return false;
  if (ended_) return true;
  for (auto& c : queue_) {
    if (c->kind == Chunk::kEnd) return true;
    if (c->kind == Chunk::kData && !c->records.empty()) return false;
  }
  return false;
}

void FeedQueue::BatchResults(const std::vector<std::string>& results) {
  std::shared_ptr<SenderLink> to;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (results_due_ == 0) {
      throw Error(InvalidArgument("feed '" + name_ +
                                  "': batch_results() without an inference batch to answer"));
    }
    if (results.size() != results_due_) {
      throw Error(InvalidArgument("feed '" + name_ + "': batch_results() got " +
                                  std::to_string(results.size()) + " results for a batch of " +
                                  std::to_string(results_due_) +
                                  " records; inference must return exactly one result per input"));
    }
    results_due_ = 0;
    to = std::move(results_to_);
  }
  if (to)
    ThrowIfError(to->SendResults(results).WithContext("feed '" + name_ + "': sending results to " +
                                                      to->Describe()));
}

void FeedQueue::Terminate() {
  std::set<std::shared_ptr<SenderLink>> links;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (terminated_) return;
    terminated_ = true;
    stream_free_.notify_all();
    queue_.clear();
    bytes_ = 0;
    current_.reset();
    links = links_;
    not_full_.notify_all();
    not_empty_.notify_all();
  }
  for (auto& l : links) l->NotifyTerminate();
}

bool FeedQueue::consumer_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

bool FeedQueue::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !failed_.ok() || shutdown_;
}

uint64_t FeedQueue::consumed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return consumed_;
}

std::string FeedQueue::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return "feed '" + name_ + "': " + std::to_string(consumed_) + " records consumed, " +
         std::to_string(queue_.size()) + " frames buffered" + (ended_ ? ", ended" : "") +
         (terminated_ ? ", terminated" : "");
}

std::shared_ptr<FeedQueue> FeedRegistry::Get(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& q = feeds_[name];
  if (!q) q = std::make_shared<FeedQueue>(name, capacity_bytes_, feed_timeout_);
  return q;
}

std::vector<std::shared_ptr<FeedQueue>> FeedRegistry::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<FeedQueue>> out;
  for (auto& [n, q] : feeds_) out.push_back(q);
  return out;
}

void FeedRegistry::ShutdownAll() {
  for (auto& q : All()) q->Shutdown();
}

}  // namespace tos::feed

namespace tos {

DataFeed::DataFeed(std::shared_ptr<feed::FeedQueue> queue) : queue_(std::move(queue)) {}
DataFeed::~DataFeed() = default;
const std::string& DataFeed::name() const { return queue_->name(); }
Batch DataFeed::next_batch(size_t n) { return queue_->NextBatch(n); }
bool DataFeed::should_stop() const { return queue_->ShouldStop(); }
void DataFeed::batch_results(const std::vector<std::string>& r) { queue_->BatchResults(r); }
void DataFeed::terminate() { queue_->Terminate(); }
uint64_t DataFeed::records_consumed() const { return queue_->consumed(); }

}  // namespace tos
