#include "feed/feed_server.h"

#include <condition_variable>

#include "tos/log.h"

namespace tos::feed {
namespace {

// How often a connection awaiting inference results rechecks whether the node is stopping.
constexpr auto kGiveUpPoll = std::chrono::milliseconds(100);
// A sender must open its feed this soon after connecting, or it is dropped.
constexpr auto kOpenTimeout = std::chrono::seconds(30);

constexpr std::chrono::seconds kWriteTimeout{30};

class SocketLink : public SenderLink {
 public:
  SocketLink(net::Socket* socket, std::string describe, bool shared)
      : socket_(socket), describe_(std::move(describe)), shared_(shared) {}

  Status SendResults(const std::vector<std::string>& results) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!socket_ && shared_) {
      // A Spark task that went away: its retry gets its own results.
      if (!dropped_warned_)
        LogWarning("dropping inference results for " + describe_ + ", which disconnected");
      dropped_warned_ = true;
      return Status::OK();
    }
    if (!socket_) return Unavailable("the sender's connection is closed");
    Status st = net::WriteFrame(*socket_, net::FrameType::kResults, EncodeResults(results),
                                net::After(kWriteTimeout));
    answered_ += results.size();
    cv_.notify_all();
    return st;
  }
  void CountPushed(uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    pushed_ += n;
  }
  // Inference: after the sender's FEED_END the connection stays open until every record that
  // came through it has its result, or `give_up` says the node is stopping.
  void AwaitAnswers(const std::function<bool()>& give_up) {
    std::unique_lock<std::mutex> lock(mu_);
    while (answered_ < pushed_ && !give_up()) cv_.wait_for(lock, kGiveUpPoll);
  }
  void NotifyTerminate() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!socket_ || terminate_sent_) return;
    terminate_sent_ = true;
    Status st =
        net::WriteFrame(*socket_, net::FrameType::kFeedTerminate, "", net::After(kWriteTimeout));
    if (!st.ok()) LogWarning("could not tell " + describe_ + " to stop feeding: " + st.message());
  }
  std::string Describe() const override { return describe_; }
  void Disconnect() {
    std::lock_guard<std::mutex> lock(mu_);
    socket_ = nullptr;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t pushed_ = 0, answered_ = 0;
  net::Socket* socket_;
  std::string describe_;
  bool shared_ = false;
  bool dropped_warned_ = false;
  bool terminate_sent_ = false;
};

}  // namespace

Result<std::unique_ptr<FeedServer>> FeedServer::Start(Options options, FeedRegistry* registry) {
  std::unique_ptr<FeedServer> fs(new FeedServer());
  TOS_ASSIGN_OR_RETURN(auto range, net::ParsePortRange(options.port_spec));
  net::ListenOptions lo;
  lo.host = options.bind_host;
  TOS_ASSIGN_OR_RETURN(net::Socket listener, net::ListenInRange(lo, range.first, range.second));
  fs->options_ = std::move(options);
  fs->registry_ = registry;
  net::AuthServer::Options so;
  so.name = "feed server";
  so.secret = fs->options_.secret;
  auto* self = fs.get();
  TOS_ASSIGN_OR_RETURN(fs->server_, net::AuthServer::Start(std::move(listener), so,
                                                           [self](net::Socket& s, net::Channel ch) {
                                                             if (ch == net::Channel::kFeed)
                                                               self->Handle(s);
                                                           }));
  return fs;
}

FeedServer::~FeedServer() { Stop(); }

void FeedServer::Stop() {
  stopping_ = true;
  if (server_) server_->Stop();
}

void FeedServer::Handle(net::Socket& socket) {
  const std::string peer = socket.PeerAddress();
  auto open_frame = net::ReadFrame(socket, net::After(kOpenTimeout), 1 << 16);
  if (!open_frame.ok() || open_frame->type != net::FrameType::kFeedOpen) {
    LogWarning("feed server: " + peer + " did not open a feed; dropped");
    return;
  }
  auto open = DecodeFeedOpen(open_frame->payload);
  if (!open.ok()) {
    LogWarning("feed server: " + peer + ": " + open.status().message());
    // Best effort: the sender may be gone; the warning above names the fault either way.
    (void)net::WriteFrame(socket, net::FrameType::kFeedError, open.status().message(),
                          net::After(kWriteTimeout));
    return;
  }
  auto queue = registry_->Get(open->feed);
  std::string who = "sender " + (open->sender.empty() ? peer : open->sender + " (" + peer + ")");
  // Exactly once (docs/spark.md): records of this stream the queue already took are dropped.
  const bool exactly_once = !open->stream.empty() && open->mode == FeedMode::kTrain;
  uint64_t skip = 0;
  if (exactly_once) {
    auto claimed = queue->ClaimStream(open->stream, registry_->feed_timeout());
    if (!claimed.ok()) {
      LogWarning("feed server: " + claimed.status().message());
      (void)net::WriteFrame(socket, net::FrameType::kFeedError, claimed.status().message(),
                            net::After(kWriteTimeout));
      return;
    }
    skip = *claimed;
    if (skip > 0) {
      LogInfo("feed server: " + who + " resends stream " + open->stream + ": dropping its first " +
              std::to_string(skip) + " records, taken before");
    }
  }
  auto link = std::make_shared<SocketLink>(&socket, who, open->shared);
  queue->Attach(link);

  uint64_t frames = 0, records = 0;
  bool ended = false, discarding = false;
  Status error;
  // A feed's reader may rightly pause up to feed_timeout, so a closed receive window may last
  // that long before the connection is declared dead.
  const auto feed_timeout = registry_->feed_timeout();
  if (Status st = net::SetPeerTimeout(socket, feed_timeout); !st.ok())
    LogWarning("feed server: " + st.message());
  for (;;) {
    // A sender that goes silent (its host vanished, its process frozen) for feed_timeout
    // mid-feed fails the feed; one that ended its feed may keep the connection open.
    auto f =
        net::ReadRawFrame(socket, ended || discarding ? net::Never() : net::After(feed_timeout),
                          options_.max_frame_bytes);
    if (!f.ok()) {
      if (!ended && !discarding) {
        error = f.status().WithContext("feed connection from " + who + " broke after " +
                                       std::to_string(records) + " records, before FEED_END");
      }
      break;
    }
    ++frames;
    if (discarding && f->type != net::FrameType::kFeedEnd) continue;
    auto chunk = std::make_shared<Chunk>();
    chunk->mode = open->mode;
    chunk->encoding = open->encoding;
    chunk->sender = link;
    if (f->type == net::FrameType::kFeedData) {
      chunk->bytes = f->size;
      chunk->data = std::move(f->payload);
      Status st = DecodeRecords(std::string_view(chunk->data.get(), chunk->bytes), &chunk->records);
      if (!st.ok()) {
        error = st.WithContext("malformed frame " + std::to_string(frames) + " from " + who);
        // Best effort: the sender may be gone; the queue is failed and the fault logged below.
        (void)net::WriteFrame(socket, net::FrameType::kFeedError, error.message(),
                              net::After(kWriteTimeout));
        break;
      }
      records += chunk->records.size();
      if (skip > 0) {
        size_t drop = static_cast<size_t>(std::min<uint64_t>(skip, chunk->records.size()));
        skip -= drop;
        chunk->records.erase(chunk->records.begin(), chunk->records.begin() + drop);
        if (chunk->records.empty()) continue;
      }
      if (open->mode == FeedMode::kInference) link->CountPushed(chunk->records.size());
    } else if (f->type == net::FrameType::kPartitionEnd) {
      if (f->size != 8) {
        error = DataLoss("malformed PARTITION_END from " + who);
        break;
      }
      chunk->kind = Chunk::kPartitionEnd;
      chunk->partition = net::GetU64(f->payload.get());
    } else if (f->type == net::FrameType::kFeedEnd) {
      if (discarding || open->shared) {
        ended = true;
        continue;  // keep the connection until the sender closes it
      }
      chunk->kind = Chunk::kEnd;
      ended = true;
    } else {
      error =
          DataLoss(std::string("unexpected ") + net::FrameTypeName(f->type) + " frame from " + who);
      break;
    }
    const size_t pushing = chunk->records.size();
    Status pushed = queue->Push(std::move(chunk));
    if (exactly_once && pushed.ok()) queue->StreamTaken(open->stream, pushing);
    if (pushed.code() == StatusCode::kTimeout) {
      error = pushed.WithContext("from " + who);
      // Best effort, as for a malformed frame: the consumer's queue is failed below either way.
      (void)net::WriteFrame(socket, net::FrameType::kFeedError, error.message(),
                            net::After(kWriteTimeout));
      break;
    }
    if (!pushed.ok()) {
      // Terminated by the consumer (the link already told the sender) or shutting down.
      link->NotifyTerminate();
      discarding = true;
    }
  }
  if (error.ok() && ended && open->mode == FeedMode::kInference) {
    link->AwaitAnswers([&] { return stopping_.load() || queue->terminated() || queue->failed(); });
  }
  if (!error.ok() && !queue->terminated()) {
    LogWarning("feed server: " + error.message());
    if (!open->shared) queue->Fail(error);
  }
  if (exactly_once) queue->ReleaseStream(open->stream);
  link->Disconnect();
  queue->Detach(link);
}

}  // namespace tos::feed
