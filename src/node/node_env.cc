#include "node/node_env.h"

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "net/auth.h"

namespace tos {
namespace {

const char* Get(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// A whole decimal number in [lo, hi]; absent leaves *out as it is.
Status ReadLong(const char* name, long lo, long hi, long* out) {
  const char* v = Get(name);
  if (v == nullptr) return Status::OK();
  errno = 0;
  char* end = nullptr;
  long r = std::strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || r < lo || r > hi) {
    return InvalidArgument(std::string(name) + "='" + v + "' is not a whole number from " +
                           std::to_string(lo) + " to " + std::to_string(hi));
  }
  *out = r;
  return Status::OK();
}

template <typename T>
Status ReadInt(const char* name, long lo, long hi, T* out) {
  long v = static_cast<long>(*out);
  TOS_RETURN_IF_ERROR(ReadLong(name, lo, hi, &v));
  *out = static_cast<T>(v);
  return Status::OK();
}

Status ReadMs(const char* name, long lo, std::chrono::milliseconds* out) {
  long v = static_cast<long>(out->count());
  TOS_RETURN_IF_ERROR(ReadLong(name, lo, LONG_MAX / 2, &v));
  *out = std::chrono::milliseconds(v);
  return Status::OK();
}

void ReadString(const char* name, std::string* out) {
  if (const char* v = Get(name)) *out = v;
}

}  // namespace

std::map<std::string, std::string> NodeEnv::ToEnv() const {
  std::map<std::string, std::string> e = {
      {"TOS_RESERVATION", reservation},
      {"TOS_SECRET", secret},
      {"TOS_NUM_EXECUTORS", std::to_string(num_executors)},
      {"TOS_LOG_DIR", log_dir},
      {"TOS_WORKING_DIR", working_dir},
      {"TOS_DEFAULT_FS", default_fs},
      {"TOS_RESERVATION_TIMEOUT_MS", std::to_string(reservation_timeout.count())},
      {"TOS_FEED_TIMEOUT_MS", std::to_string(feed_timeout.count())},
      {"TOS_HEARTBEAT_MS", std::to_string(heartbeat.count())},
      {"TOS_NODE_TIMEOUT_MS", std::to_string(node_timeout.count())},
      {"TOS_INPUT_MODE", input_mode == InputMode::kTensorflow ? "tensorflow" : "spark"},
      {"TOS_THREADS", std::to_string(threads)},
      {"TOS_TENSORBOARD", tensorboard ? "1" : "0"},
      {"TOS_FEED_QUEUE_BYTES", std::to_string(feed_queue_bytes)},
      {"TOS_TENSORBOARD_PORT", std::to_string(tensorboard_port)},
  };
  auto optional = [&](const char* name, const std::string& v) {
    if (!v.empty()) e[name] = v;
  };
  optional("TOS_HOST", host);
  optional("TOS_NODE_PORT", node_port);
  optional("TOS_FEED_PORT", feed_port);
  optional("TOS_TENSORBOARD_LOGDIR", tensorboard_logdir);
  optional("TOS_NODE_LOG", node_log);
  if (watch_pid > 0) e["TOS_WATCH_PID"] = std::to_string(watch_pid);
  for (auto it = e.begin(); it != e.end();) it = it->second.empty() ? e.erase(it) : std::next(it);
  return e;
}

Result<NodeEnv> NodeEnv::FromEnv() {
  NodeEnv n;
  if (Get("TOS_EXECUTOR_ID") == nullptr) return InvalidArgument("TOS_EXECUTOR_ID is missing");
  TOS_RETURN_IF_ERROR(ReadInt("TOS_EXECUTOR_ID", 0, INT_MAX, &n.executor_id));
  ReadString("TOS_RESERVATION", &n.reservation);
  if (n.reservation.empty())
    return InvalidArgument("TOS_RESERVATION (the driver's host:port) is missing");
  TOS_ASSIGN_OR_RETURN(n.secret, net::SecretFromEnv());
  TOS_RETURN_IF_ERROR(ReadInt("TOS_NUM_EXECUTORS", 0, INT_MAX, &n.num_executors));
  ReadString("TOS_WORKING_DIR", &n.working_dir);
  ReadString("TOS_LOG_DIR", &n.log_dir);
  ReadString("TOS_DEFAULT_FS", &n.default_fs);
  TOS_RETURN_IF_ERROR(ReadMs("TOS_RESERVATION_TIMEOUT_MS", 1, &n.reservation_timeout));
  TOS_RETURN_IF_ERROR(ReadMs("TOS_FEED_TIMEOUT_MS", 1, &n.feed_timeout));
  TOS_RETURN_IF_ERROR(ReadMs("TOS_HEARTBEAT_MS", 1, &n.heartbeat));
  TOS_RETURN_IF_ERROR(ReadMs("TOS_NODE_TIMEOUT_MS", 1, &n.node_timeout));
  if (const char* m = Get("TOS_INPUT_MODE")) {
    std::string mode = m;
    if (mode != "spark" && mode != "tensorflow") {
      return InvalidArgument("TOS_INPUT_MODE='" + mode + "' is neither 'spark' nor 'tensorflow'");
    }
    n.input_mode = mode == "tensorflow" ? InputMode::kTensorflow : InputMode::kSpark;
  }
  TOS_RETURN_IF_ERROR(ReadInt("TOS_THREADS", 1, 4096, &n.threads));
  long tensorboard = n.tensorboard ? 1 : 0;
  TOS_RETURN_IF_ERROR(ReadLong("TOS_TENSORBOARD", 0, 1, &tensorboard));
  n.tensorboard = tensorboard == 1;
  ReadString("TOS_HOST", &n.host);
  ReadString("TOS_NODE_PORT", &n.node_port);
  ReadString("TOS_FEED_PORT", &n.feed_port);
  TOS_RETURN_IF_ERROR(ReadInt("TOS_FEED_QUEUE_BYTES", 1 << 16, LONG_MAX / 2, &n.feed_queue_bytes));
  TOS_RETURN_IF_ERROR(ReadInt("TOS_TENSORBOARD_PORT", 0, 65535, &n.tensorboard_port));
  ReadString("TOS_TENSORBOARD_LOGDIR", &n.tensorboard_logdir);
  ReadString("TOS_NODE_LOG", &n.node_log);
  TOS_RETURN_IF_ERROR(ReadLong("TOS_WATCH_PID", 0, INT_MAX, &n.watch_pid));
  return n;
}

}  // namespace tos
