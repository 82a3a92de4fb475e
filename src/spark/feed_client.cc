// Feed client: one Spark partition from the Python task (stdin) to one node's feed server,
// through the same sender code the local driver uses (feed::RunFeed). Protocol: docs/spark.md.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "feed/feeder.h"
#include "net/auth.h"
#include "net/frame.h"
#include "reservation/client.h"
#include "spark/bridge.h"
#include "tos/log.h"

namespace tos::spark {
namespace {

// Explaining a broken feed: the driver's store is on a reachable host, or there is nothing to ask.
constexpr auto kExplainConnectTimeout = std::chrono::seconds(5);
// How long to wait for the node's "finished" mark and for the job's failure to be recorded:
// each is written by the driver within a heartbeat or two of the event that broke the feed.
constexpr auto kFinishedMarkWait = std::chrono::milliseconds(2500);
constexpr auto kJobFailureWait = std::chrono::milliseconds(3000);

std::string Env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

Status ReadFully(int fd, char* buf, size_t n, size_t* got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = ::read(fd, buf + *got, n - *got);
    if (r == 0) return Status::OK();
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read stdin", errno);
    }
    *got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write stdout", errno);
    }
    off += static_cast<size_t>(w);
  }
  return Status::OK();
}

std::mutex g_out_mu;

// stdout message: u8 type | u32 length (little-endian) | payload.
Status SendMessage(char type, const std::string& payload) {
  std::string m(1, type);
  net::PutU32(&m, static_cast<uint32_t>(payload.size()));
  m += payload;
  std::lock_guard<std::mutex> lock(g_out_mu);
  return WriteAll(1, m);
}

// The records of one partition as the Python task writes them to stdin: blocks of
//   u8 kind | u32 count | u32 nbytes | payload
// kind 'L': count records of u32 length | bytes; 'N': count records joined by '\n';
// 'E': end of partition (count = nbytes = 0). EOF before 'E' means the task went away.
class StdinReader : public PartitionReader {
 public:
  Result<bool> Next(std::string_view* record) override {
    while (left_ == 0) {
      if (done_) return false;
      TOS_RETURN_IF_ERROR(ReadBlock());
    }
    --left_;
    if (kind_ == 'N') {
      const char* end =
          static_cast<const char*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
      if (!end) end = end_;
      *record = std::string_view(p_, static_cast<size_t>(end - p_));
      p_ = end < end_ ? end + 1 : end;
      if (left_ == 0 && p_ != end_)
        return Corrupt("newline-joined block holds more records than its count");
      return true;
    }
    if (end_ - p_ < 4) return Corrupt("record length runs past the block");
    uint32_t len = net::GetU32(p_);
    p_ += 4;
    if (static_cast<size_t>(end_ - p_) < len)
      return Corrupt("record of " + std::to_string(len) + " bytes runs past the block");
    *record = std::string_view(p_, len);
    p_ += len;
    if (left_ == 0 && p_ != end_) return Corrupt("block has bytes after its last record");
    return true;
  }

 private:
  Status Corrupt(const std::string& what) {
    return DataLoss("feed client stdin: block at offset " + std::to_string(block_offset_) + ": " +
                    what);
  }

  Status ReadBlock() {
    char header[9];
    size_t got = 0;
    block_offset_ = offset_;
    TOS_RETURN_IF_ERROR(ReadFully(0, header, sizeof(header), &got));
    offset_ += got;
    if (got < sizeof(header)) {
      return Aborted(
          "the Spark task stopped sending before the end of the partition (stdin closed at "
          "offset " +
          std::to_string(offset_) + ")");
    }
    kind_ = header[0];
    left_ = net::GetU32(header + 1);
    uint32_t nbytes = net::GetU32(header + 5);
    if (kind_ == 'E') {
      done_ = true;
      left_ = 0;
      return Status::OK();
    }
    if (kind_ != 'L' && kind_ != 'N')
      return Corrupt(std::string("unknown block kind 0x") +
                     std::to_string(static_cast<unsigned char>(kind_)));
    if (nbytes > (1u << 30))
      return Corrupt("block of " + std::to_string(nbytes) + " bytes is larger than 1 GiB");
    buf_.resize(nbytes);
    TOS_RETURN_IF_ERROR(ReadFully(0, buf_.data(), nbytes, &got));
    offset_ += got;
    if (got < nbytes)
      return Corrupt("truncated: " + std::to_string(got) + " of " + std::to_string(nbytes) +
                     " bytes");
    p_ = buf_.data();
    end_ = buf_.data() + buf_.size();
    if (kind_ == 'N' && left_ == 0 && nbytes > 0)
      return Corrupt("newline-joined block with bytes but no records");
    return Status::OK();
  }

  std::string buf_;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  char kind_ = 'L';
  uint32_t left_ = 0;
  bool done_ = false;
  uint64_t offset_ = 0, block_offset_ = 0;
};

class StdinSource : public RecordSource {
 public:
  explicit StdinSource(std::string describe) : describe_(std::move(describe)) {}
  size_t num_partitions() const override { return 1; }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t) const override {
    return std::unique_ptr<PartitionReader>(new StdinReader());
  }
  std::string Describe() const override { return describe_; }

 private:
  std::string describe_;
};

// A feed that could not reach its node: a trainer that already finished (after terminate())
// takes no more data, and its partitions are skipped as in local mode; a failed job explains
// the broken connection. Both are looked up in the driver's store (docs/spark.md).
Status Explain(const Status& st, int executor_id, const std::string& secret,
               nlohmann::json* status) {
  auto addr = net::ParseHostPort(Env("TOS_RESERVATION"));
  if (!addr.ok()) return st;
  auto kv = reservation::KvClient::Connect(*addr, secret, net::After(kExplainConnectTimeout));
  if (!kv.ok()) return st;
  if ((*kv)->Get("tos/finished/" + std::to_string(executor_id), kFinishedMarkWait).ok()) {
    LogInfo("the node already finished; partition skipped (" + st.message() + ")");
    (*status)["skipped"] = true;
    return Status::OK();
  }
  auto failure = (*kv)->Get("tos/job_failure", kJobFailureWait);
  if (failure.ok())
    return Aborted("the TorchOnSpark job failed: " + *failure + "\n(this feed: " + st.message() +
                   ")");
  return st;
}

}  // namespace

bool IsFeedClient() { return std::getenv("TOS_FEED_CLIENT") != nullptr; }

int RunFeedClient() {
  // Dies with the Python task that started it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::string parent = Env("TOS_FEED_PARENT_PID");
  if (!parent.empty() && std::to_string(::getppid()) != parent) return 1;
  ::signal(SIGPIPE, SIG_IGN);
  SetLogTag("feed client");

  nlohmann::json status;
  auto secret = net::SecretFromEnv();
  auto target = net::ParseHostPort(Env("TOS_FEED_TARGET"));
  std::string mode = Env("TOS_FEED_MODE", "train");
  Status st;
  if (!secret.ok())
    st = secret.status();
  else if (!target.ok())
    st = target.status().WithContext("TOS_FEED_TARGET");
  else if (mode != "train" && mode != "inference")
    st = InvalidArgument("TOS_FEED_MODE must be train or inference, not " + mode);

  std::vector<feed::TargetProgress> progress(1);
  if (st.ok()) {
    feed::FeedTarget t;
    t.executor_id = std::atoi(Env("TOS_FEED_TARGET_ID", "0").c_str());
    t.label = Env("TOS_FEED_TARGET_LABEL", "node at " + target->ToString());
    t.address = *target;
    feed::FeedJob job;
    job.secret = *secret;
    job.feed_name = Env("TOS_FEED_NAME", "input");
    job.mode = mode == "inference" ? feed::FeedMode::kInference : feed::FeedMode::kTrain;
    job.encoding = Env("TOS_FEED_ENCODING", "bytes");
    job.shared = true;
    job.stream = Env("TOS_FEED_STREAM");  // training: every attempt of the task resends it
    job.sender = Env("TOS_FEED_SENDER", "spark task");
    job.feed_timeout =
        std::chrono::milliseconds(std::atol(Env("TOS_FEED_TIMEOUT_MS", "600000").c_str()));
    job.progress = progress.data();
    job.on_output = [](size_t, const std::string& text) { return SendMessage('R', text); };
    if (job.encoding == "arrow") {
      // DataFrame inference: each result is an Arrow batch, streamed back as it arrives.
      job.on_result = [](size_t, const std::string& r) { return SendMessage('R', r); };
    }
    StdinSource source(job.sender);
    st = feed::RunFeed(source, {t}, job);
    // A node it cannot reach (connection refused or dropped) may have finished or failed.
    if (!st.ok() && st.code() != StatusCode::kDataLoss &&
        st.code() != StatusCode::kInvalidArgument && st.code() != StatusCode::kTimeout) {
      st = Explain(st, t.executor_id, *secret, &status);
    }
  }
  ::close(0);  // a terminated feed: the task's next write fails and it stops reading its partition
  status["ok"] = st.ok();
  status["message"] = st.message();
  status["code"] = StatusCodeName(st.code());
  status["records"] = progress[0].records_sent.load();
  status["terminated"] = progress[0].terminated.load();
  // The exit status says the same if the Spark task can no longer read this message.
  (void)SendMessage('S', status.dump());
  return st.ok() ? 0 : 1;
}

}  // namespace tos::spark
