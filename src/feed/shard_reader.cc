#include "tos/shard_reader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace tos {

struct ShardReader::Impl {
  std::shared_ptr<const RecordSource> source;
  ShardReaderOptions opts;
  std::vector<std::pair<int, size_t>> work;  // (epoch, partition) in reading order
  std::atomic<size_t> next_work{0};

  std::mutex mu;
  std::condition_variable not_empty, not_full;
  std::deque<std::vector<std::string>> blocks;
  size_t queued_records = 0;
  int readers_left = 0;
  std::multiset<size_t> reading;  // partitions being read now
  bool stopping = false;
  Status error;
  std::vector<std::thread> threads;

  std::vector<std::string> pending;  // the block being handed out
  size_t pending_pos = 0;
  std::vector<std::string> shuffle;
  std::mt19937_64 rng;
  bool drained = false;

  void ReaderLoop() {
    constexpr size_t kBlock = 256;
    for (;;) {
      size_t w = next_work++;
      if (w >= work.size()) break;
      const size_t partition = work[w].second;
      {
        std::lock_guard<std::mutex> lock(mu);
        reading.insert(partition);
      }
      auto reader = source->OpenPartition(partition);
      Status st = reader.status();
      std::vector<std::string> block;
      block.reserve(kBlock);
      std::string_view rec;
      while (st.ok()) {
        auto more = (*reader)->Next(&rec);
        if (!more.ok()) {
          st = more.status();
          break;
        }
        if (*more) block.emplace_back(rec);
        if (block.size() == kBlock || (!*more && !block.empty())) {
          if (!Push(std::move(block))) return Finish(Status::OK());
          block.clear();
          block.reserve(kBlock);
        }
        if (!*more) break;
      }
      if (!st.ok())
        return Finish(
            st.WithContext("partition " + std::to_string(partition) + " of " + source->Describe()));
      std::lock_guard<std::mutex> lock(mu);
      reading.erase(reading.find(partition));
    }
    Finish(Status::OK());
  }

  bool Push(std::vector<std::string> block) {
    std::unique_lock<std::mutex> lock(mu);
    not_full.wait(lock, [&] { return queued_records < opts.queue_records || stopping; });
    if (stopping) return false;
    queued_records += block.size();
    blocks.push_back(std::move(block));
    not_empty.notify_one();
    return true;
  }

  void Finish(const Status& st) {
    std::lock_guard<std::mutex> lock(mu);
    if (!st.ok() && error.ok()) error = st;
    --readers_left;
    not_empty.notify_all();
  }

  // Next record from the readers, or false at the end. Requires no lock.
  Result<bool> Pull(std::string* out) {
    if (pending_pos >= pending.size()) {
      std::unique_lock<std::mutex> lock(mu);
      bool ready = not_empty.wait_for(lock, opts.read_timeout, [&] {
        return !blocks.empty() || readers_left == 0 || !error.ok();
      });
      if (!ready) {
        std::string parts;
        for (size_t p : reading) parts += (parts.empty() ? "" : ", ") + std::to_string(p);
        return Timeout("no records from " + source->Describe() + " for " +
                       std::to_string(opts.read_timeout.count() / 1000) +
                       " s while reading partition(s) " +
                       (parts.empty() ? std::string("none") : parts) +
                       "; is its file system hung or unreachable?");
      }
      if (!error.ok()) return error;
      if (blocks.empty()) return false;
      pending = std::move(blocks.front());
      blocks.pop_front();
      queued_records -= pending.size();
      pending_pos = 0;
      not_full.notify_all();
    }
    *out = std::move(pending[pending_pos++]);
    return true;
  }
};

ShardReader::ShardReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ShardReader::~ShardReader() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->not_full.notify_all();
  for (auto& t : impl_->threads) t.join();
}

size_t ShardReader::num_partitions() const {
  return impl_->opts.epochs > 0 ? impl_->work.size() / static_cast<size_t>(impl_->opts.epochs) : 0;
}

Result<std::unique_ptr<ShardReader>> ShardReader::Open(std::shared_ptr<const RecordSource> source,
                                                       const ShardReaderOptions& o) {
  if (o.num_shards < 1 || o.shard_index < 0 || o.shard_index >= o.num_shards) {
    return InvalidArgument("shard " + std::to_string(o.shard_index) + " of " +
                           std::to_string(o.num_shards) + " is out of range");
  }
  if (o.readers < 1 || o.epochs < 1)
    return InvalidArgument("readers and epochs must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->source = std::move(source);
  impl->opts = o;
  impl->rng.seed(o.seed * 1000003 + static_cast<uint64_t>(o.shard_index));
  for (int e = 0; e < o.epochs; ++e) {
    std::vector<std::pair<int, size_t>> epoch;
    for (size_t p = o.shard_index; p < impl->source->num_partitions(); p += o.num_shards)
      epoch.emplace_back(e, p);
    if (o.shuffle_buffer > 0) std::shuffle(epoch.begin(), epoch.end(), impl->rng);
    impl->work.insert(impl->work.end(), epoch.begin(), epoch.end());
  }
  impl->readers_left = o.readers;
  for (int r = 0; r < o.readers; ++r)
    impl->threads.emplace_back([p = impl.get()] { p->ReaderLoop(); });
  return std::unique_ptr<ShardReader>(new ShardReader(std::move(impl)));
}

Result<bool> ShardReader::NextBatch(size_t n, std::vector<std::string>* out) {
  out->clear();
  Impl& im = *impl_;
  std::string rec;
  while (out->size() < n) {
    if (im.opts.shuffle_buffer == 0) {
      TOS_ASSIGN_OR_RETURN(bool more, im.Pull(&rec));
      if (!more) break;
      out->push_back(std::move(rec));
      continue;
    }
    // Shuffle: keep the buffer full, hand out a random element.
    while (!im.drained && im.shuffle.size() < im.opts.shuffle_buffer) {
      TOS_ASSIGN_OR_RETURN(bool more, im.Pull(&rec));
      if (!more) {
        im.drained = true;
        break;
      }
      im.shuffle.push_back(std::move(rec));
    }
    if (im.shuffle.empty()) break;
    size_t k = std::uniform_int_distribution<size_t>(0, im.shuffle.size() - 1)(im.rng);
    std::swap(im.shuffle[k], im.shuffle.back());
    out->push_back(std::move(im.shuffle.back()));
    im.shuffle.pop_back();
  }
  return !out->empty();
}

}  // namespace tos
