#include "feed/feeder.h"

#include <sys/socket.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "net/auth.h"
#include "net/frame.h"
#include "tos/fs.h"
#include "tos/log.h"
#include "tos/partitioned_dir.h"

namespace tos::feed {
namespace {

// Connecting to a node's feed server and its handshake: the node is up and listening by now.
constexpr auto kConnectTimeout = std::chrono::seconds(30);
// After a send error, how long to wait for the node's FEED_TERMINATE that explains it.
constexpr auto kTerminateDrain = std::chrono::seconds(2);
// While results are awaited, the sender rechecks cancellation and progress this often.
constexpr auto kResultsPoll = std::chrono::milliseconds(200);

using net::FrameType;

// One output partition, written through a temporary name and renamed into place.
Status WritePart(const std::string& dir, size_t index, const std::string& text) {
  TOS_ASSIGN_OR_RETURN(auto file, CreatePartFile(dir, PartFileName(index)));
  TOS_RETURN_IF_ERROR(file->Append(text));
  return file->Close();
}

struct OutputPartition {
  size_t index = 0;
  int64_t expected = -1;  // known once the sender finished the partition
  std::string text;
  uint64_t written = 0;
};

class TargetFeeder {
 public:
  TargetFeeder(const RecordSource& source, const FeedTarget& target, const FeedJob& job,
               std::vector<std::pair<int, size_t>> assigned, TargetProgress* progress)
      : source_(source),
        target_(target),
        job_(job),
        assigned_(std::move(assigned)),
        progress_(progress) {
    if (job_.mode == FeedMode::kInference) {
      for (auto& [e, p] : assigned_) {
        OutputPartition o;
        o.index = p;
        outputs_.push_back(std::move(o));
      }
    }
  }

  Status Run() {
    auto deadline = net::After(kConnectTimeout);
    auto sock = net::Connect(target_.address, deadline);
    if (!sock.ok())
      return sock.status().WithContext("feed '" + job_.feed_name + "' to " + target_.label);
    socket_ = std::move(sock).value();
    // The node may rightly stop reading for up to feed_timeout (a full queue).
    TOS_RETURN_IF_ERROR(net::SetPeerTimeout(socket_, job_.feed_timeout));
    TOS_RETURN_IF_ERROR(net::ClientHandshake(socket_, job_.secret, net::Channel::kFeed, deadline)
                            .WithContext("feed '" + job_.feed_name + "' to " + target_.label));
    if (job_.cancel && !job_.cancel->Register(&socket_)) return job_.cancel->status();
    FeedOpen open{job_.feed_name, job_.mode, job_.sender, job_.encoding, job_.shared, job_.stream};
    Status st = net::WriteFrame(socket_, FrameType::kFeedOpen, EncodeFeedOpen(open), deadline);
    if (st.ok()) {
      std::thread reader([this] { ReadLoop(); });
      st = SendAll();
      if (st.ok()) st = AwaitCompletion();
      socket_.Shutdown();
      reader.join();
    }
    if (job_.cancel) {
      job_.cancel->Unregister(&socket_);
      if (job_.cancel->cancelled()) return job_.cancel->status();
    }
    return st;
  }

 private:
  Status Check() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reader_error_.ok()) return reader_error_;
    return Status::OK();
  }
  bool Terminated() {
    std::lock_guard<std::mutex> lock(mu_);
    return terminated_;
  }

  // A node that terminated its feed (or finished and closed it, which terminates it first)
  // may close the connection while frames are in flight: the reader sees FEED_TERMINATE
  // before EOF, so wait for it to drain before deciding whether a send error is an error.
  bool ClosedAfterTerminate() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kTerminateDrain, [&] { return peer_closed_; });
    return terminated_;
  }

  Status TimeoutError(const Status& st) {
    if (st.code() != StatusCode::kTimeout) {
      Status r = Check();
      if (!r.ok()) return r;
      return st.WithContext("feed '" + job_.feed_name + "' to " + target_.label);
    }
    return Timeout(
        "feed timeout on '" + job_.feed_name + "': " + target_.label + " at " +
        target_.address.ToString() + " took no data for " +
        std::to_string(job_.feed_timeout.count() / 1000) + " s; " +
        std::to_string(progress_->records_sent.load()) + " records were sent to it (epoch " +
        std::to_string(progress_->epoch.load() + 1) + ", partition " +
        std::to_string(progress_->partition.load()) + ")" +
        (job_.describe_node ? "; the node reports " + job_.describe_node(target_.executor_id)
                            : "") +
        ". Its training loop stopped calling next_batch(); a node that stops early "
        "must call terminate() on its feed");
  }

  Status Flush(std::string* frame, uint32_t count) {
    if (count == 0) return Status::OK();
    char* h = frame->data() + net::kFrameHeaderBytes;
    uint32_t vals[2] = {count, 0};
    for (int k = 0; k < 2; ++k)
      for (int b = 0; b < 4; ++b) h[k * 4 + b] = static_cast<char>(vals[k] >> (8 * b));
    Status st =
        net::WriteFrameInPlace(socket_, FrameType::kFeedData, frame, net::After(job_.feed_timeout));
    if (!st.ok() && st.code() != StatusCode::kTimeout && ClosedAfterTerminate())
      return Status::OK();
    if (!st.ok()) return TimeoutError(st);
    progress_->records_sent += count;
    progress_->bytes_sent += frame->size();
    return Status::OK();
  }

  Status SendAll() {
    const size_t header = net::kFrameHeaderBytes + kDataHeaderBytes;
    std::string frame;
    frame.reserve(job_.frame_bytes + size_t{64} * 1024);
    for (size_t k = 0; k < assigned_.size(); ++k) {
      auto [epoch, p] = assigned_[k];
      if (job_.cancel && job_.cancel->cancelled()) return job_.cancel->status();
      TOS_RETURN_IF_ERROR(Check());
      if (Terminated()) break;
      progress_->epoch = epoch;
      progress_->partition = static_cast<int64_t>(p);
      TOS_ASSIGN_OR_RETURN(auto reader, source_.OpenPartition(p));
      frame.assign(header, '\0');
      uint32_t count = 0;
      uint64_t total = 0;
      std::string_view rec;
      for (;;) {
        auto more = reader->Next(&rec);
        if (!more.ok())
          return more.status().WithContext("reading partition " + std::to_string(p) + " of " +
                                           source_.Describe());
        if (!*more) break;
        AppendRecord(&frame, rec);
        ++count;
        ++total;
        if (frame.size() >= job_.frame_bytes) {
          TOS_RETURN_IF_ERROR(Flush(&frame, count));
          frame.assign(header, '\0');
          count = 0;
          if (Terminated()) break;
        }
      }
      TOS_RETURN_IF_ERROR(Flush(&frame, count));
      if (job_.mode == FeedMode::kInference) {
        std::lock_guard<std::mutex> lock(mu_);
        outputs_[k].expected = static_cast<int64_t>(total);
        TOS_RETURN_IF_ERROR(AdvanceLocked());
      }
      std::string pe;
      net::PutU64(&pe, p);
      Status st =
          net::WriteFrame(socket_, FrameType::kPartitionEnd, pe, net::After(job_.feed_timeout));
      if (!st.ok() && st.code() != StatusCode::kTimeout && ClosedAfterTerminate()) break;
      if (!st.ok()) return TimeoutError(st);
      ++progress_->partitions_sent;
    }
    Status st = net::WriteFrame(socket_, FrameType::kFeedEnd, "", net::After(job_.feed_timeout));
    if (!st.ok() && st.code() != StatusCode::kTimeout && ClosedAfterTerminate())
      return Status::OK();
    if (!st.ok()) return TimeoutError(st);
    ::shutdown(socket_.fd(), SHUT_WR);  // the node sees EOF after FEED_END
    return Status::OK();
  }

  // Requires mu_. Writes every output partition whose results are complete.
  Status AdvanceLocked() {
    while (out_idx_ < outputs_.size() && outputs_[out_idx_].expected >= 0 &&
           outputs_[out_idx_].written == static_cast<uint64_t>(outputs_[out_idx_].expected)) {
      auto& o = outputs_[out_idx_];
      if (job_.on_result) {
        // Each result went out as it arrived.
      } else if (job_.on_output) {
        TOS_RETURN_IF_ERROR(job_.on_output(o.index, std::move(o.text)));
      } else {
        TOS_RETURN_IF_ERROR(WritePart(job_.output_dir, o.index, o.text));
      }
      o.text.clear();
      o.text.shrink_to_fit();
      ++out_idx_;
      cv_.notify_all();
    }
    return Status::OK();
  }

  Status AcceptResults(const std::vector<std::string>& results) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : results) {
      TOS_RETURN_IF_ERROR(AdvanceLocked());
      if (out_idx_ >= outputs_.size()) {
        return DataLoss(target_.label +
                        " returned more inference results than records it was sent");
      }
      auto& o = outputs_[out_idx_];
      if (job_.on_result) {
        TOS_RETURN_IF_ERROR(job_.on_result(o.index, r));
        ++o.written;
        continue;
      }
      if (r.find('\n') != std::string::npos) {
        return InvalidArgument(
            target_.label +
            " returned a result containing a newline; each result must be one line");
      }
      o.text += r;
      o.text.push_back('\n');
      ++o.written;
    }
    progress_->results_received += results.size();
    return AdvanceLocked();
  }

  // Ends when Run() shuts the socket down; Run's own waits are bounded by feed_timeout.
  void ReadLoop() {
    for (;;) {
      auto f = net::ReadFrame(socket_, net::Never(), 256u << 20);
      std::unique_lock<std::mutex> lock(mu_);
      if (!f.ok()) {
        peer_closed_ = true;
        cv_.notify_all();
        return;
      }
      if (f->type == FrameType::kFeedTerminate) {
        terminated_ = true;
        progress_->terminated = true;
      } else if (f->type == FrameType::kFeedError) {
        reader_error_ =
            DataLoss(target_.label + " rejected feed '" + job_.feed_name + "': " + f->payload);
      } else if (f->type == FrameType::kResults) {
        std::vector<std::string> results;
        Status st = DecodeResults(f->payload, &results);
        lock.unlock();
        if (st.ok()) st = AcceptResults(results);
        lock.lock();
        if (!st.ok() && reader_error_.ok()) reader_error_ = st;
      } else {
        reader_error_ = DataLoss(std::string("unexpected ") + net::FrameTypeName(f->type) +
                                 " from " + target_.label);
      }
      cv_.notify_all();
      if (!reader_error_.ok()) return;
    }
  }

  Status AwaitCompletion() {
    std::unique_lock<std::mutex> lock(mu_);
    auto last_progress = net::Clock::now();
    uint64_t last_results = progress_->results_received;
    for (;;) {
      if (!reader_error_.ok()) return reader_error_;
      bool done = job_.mode == FeedMode::kInference ? out_idx_ == outputs_.size() : peer_closed_;
      if (done) return Status::OK();
      if (peer_closed_) {
        if (terminated_) {
          return Aborted(target_.label + " terminated its feed during inference; " +
                         std::to_string(outputs_.size() - out_idx_) +
                         " partitions have no complete results");
        }
        auto& o = outputs_[out_idx_];
        return DataLoss(target_.label + " closed the feed with results missing for partition " +
                        std::to_string(o.index) + ": got " + std::to_string(o.written) + " of " +
                        std::to_string(o.expected) +
                        "; inference must call batch_results() for every batch");
      }
      if (job_.cancel && job_.cancel->cancelled()) return job_.cancel->status();
      cv_.wait_for(lock, kResultsPoll);
      if (progress_->results_received != last_results) {
        last_results = progress_->results_received;
        last_progress = net::Clock::now();
      } else if (net::Clock::now() - last_progress > job_.feed_timeout) {
        lock.unlock();
        return TimeoutError(Timeout("no progress"));
      }
    }
  }

  const RecordSource& source_;
  const FeedTarget& target_;
  const FeedJob& job_;
  std::vector<std::pair<int, size_t>> assigned_;
  TargetProgress* progress_;
  net::Socket socket_;

  std::mutex mu_;
  std::condition_variable cv_;
  Status reader_error_;
  bool terminated_ = false;
  bool peer_closed_ = false;
  std::vector<OutputPartition> outputs_;
  size_t out_idx_ = 0;
};

}  // namespace

Status RunFeed(const RecordSource& source, const std::vector<FeedTarget>& targets,
               const FeedJob& job) {
  if (targets.empty()) return InvalidArgument("feed '" + job.feed_name + "' has no nodes to feed");
  if (job.epochs < 1) return InvalidArgument("epochs must be at least 1");
  const size_t n = targets.size();
  std::vector<std::vector<std::pair<int, size_t>>> assigned(n);
  int epochs = job.mode == FeedMode::kInference ? 1 : job.epochs;
  for (int e = 0; e < epochs; ++e) {
    for (size_t p = 0; p < source.num_partitions(); ++p) {
      size_t t = job.mode == FeedMode::kInference ? p % n : (p + static_cast<size_t>(e)) % n;
      assigned[t].emplace_back(e, p);
    }
  }
  if (job.mode == FeedMode::kInference && !job.on_output && !job.on_result) {
    if (job.output_dir.empty()) return InvalidArgument("inference needs an output directory");
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(job.output_dir));
    TOS_RETURN_IF_ERROR(
        fs->CreateDirs(job.output_dir).WithContext("creating the inference output directory"));
  }
  std::unique_ptr<TargetProgress[]> local_progress(job.progress ? nullptr : new TargetProgress[n]);
  TargetProgress* progress = job.progress ? job.progress : local_progress.get();

  std::vector<Status> results(n);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      TargetFeeder f(source, targets[t], job, assigned[t], &progress[t]);
      results[t] = f.Run();
      // A broken connection usually means the node died: let the job's failure detection
      // report that root cause (with exit status and log lines) before the other feeds are
      // cut, instead of cutting them now and blaming their nodes.
      if (!results[t].ok() && job.cancel && results[t].code() != StatusCode::kAborted &&
          results[t].code() != StatusCode::kUnavailable) {
        job.cancel->Cancel(results[t]);
      }
    });
  }
  for (auto& th : threads) th.join();
  if (job.cancel && job.cancel->cancelled()) return job.cancel->status();
  for (auto& r : results) {
    if (!r.ok()) return r;
  }
  if (job.mode == FeedMode::kInference && !job.on_output && !job.on_result) {
    TOS_RETURN_IF_ERROR(WriteSuccessMarker(job.output_dir));
  }
  return Status::OK();
}

}  // namespace tos::feed
