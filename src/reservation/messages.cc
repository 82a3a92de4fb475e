#include "reservation/messages.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

namespace tos::reservation {

using nlohmann::json;

namespace {

// Reads integer field `name` of `j` within [lo, hi]. Numbers from the wire are checked before
// conversion: get<int>() on a float such as 4.2e116 or an out-of-range integer is undefined.
Status GetInt(const json& j, const char* what, const char* name, int64_t lo, int64_t hi, int* out) {
  auto it = j.find(name);
  if (it == j.end()) return InvalidArgument(std::string(what) + " without field '" + name + "'");
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) {
      return InvalidArgument(std::string(what) + " field '" + name + "' out of range [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    v = static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else {
    return InvalidArgument(std::string(what) + " field '" + name + "' is not an integer");
  }
  if (v < lo || v > hi) {
    return InvalidArgument(std::string(what) + " field '" + name + "' out of range [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = static_cast<int>(v);
  return Status::OK();
}

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

}  // namespace

std::string EncodeRegistration(const Registration& r) {
  return json{{"executor_id", r.executor_id},
              {"host", r.host},
              {"port", r.port},
              {"feed_port", r.feed_port},
              {"pid", r.pid},
              {"instance", r.instance},
              {"log", r.log}}
      .dump();
}

Result<Registration> DecodeRegistration(const std::string& payload) {
  try {
    auto j = json::parse(payload);
    Registration r;
    if (!j.is_object()) return InvalidArgument("registration is not a JSON object");
    const char* what = "registration";
    TOS_RETURN_IF_ERROR(GetInt(j, what, "executor_id", 0, kIntMax, &r.executor_id));
    TOS_RETURN_IF_ERROR(GetInt(j, what, "port", 1, 65535, &r.port));
    TOS_RETURN_IF_ERROR(GetInt(j, what, "feed_port", 0, 65535, &r.feed_port));
    TOS_RETURN_IF_ERROR(GetInt(j, what, "pid", 0, kIntMax, &r.pid));
    r.host = j.at("host").get<std::string>();
    r.instance = j.at("instance").get<std::string>();
    if (j.contains("log")) r.log = j.at("log").get<std::string>();
    if (r.log.size() > 4096)
      return InvalidArgument("registration field 'log' longer than 4096 bytes");
    if (r.host.empty() || r.host.size() > 255) {
      return InvalidArgument("registration field 'host' empty or longer than 255 bytes");
    }
    return r;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed registration: ") + e.what());
  }
}

std::string EncodeClusterReply(const ClusterReply& r) {
  json feeds = json::object();
  for (auto& [id, addr] : r.feed_addresses) feeds[std::to_string(id)] = addr;
  return json{{"cluster", r.cluster},
              {"job_name", r.job_name},
              {"task_index", r.task_index},
              {"num_executors", r.num_executors},
              {"feeds", feeds}}
      .dump();
}

Result<ClusterReply> DecodeClusterReply(const std::string& payload) {
  try {
    auto j = json::parse(payload);
    ClusterReply r;
    r.cluster = j.at("cluster").get<ClusterSpec>();
    r.job_name = j.at("job_name").get<std::string>();
    if (!j.is_object()) return InvalidArgument("cluster reply is not a JSON object");
    const char* what = "cluster reply";
    TOS_RETURN_IF_ERROR(GetInt(j, what, "task_index", 0, kIntMax, &r.task_index));
    TOS_RETURN_IF_ERROR(GetInt(j, what, "num_executors", 0, kIntMax, &r.num_executors));
    for (auto& [k, v] : j.at("feeds").items()) {
      // Keys are executor ids; std::stoi would accept "1x" and throw past INT_MAX.
      char* end = nullptr;
      errno = 0;
      long id = std::strtol(k.c_str(), &end, 10);
      if (k.empty() || *end != '\0' || errno != 0 || id < 0 || id > kIntMax) {
        return InvalidArgument("cluster reply with a bad executor id '" + k + "' in 'feeds'");
      }
      r.feed_addresses[static_cast<int>(id)] = v.get<std::string>();
    }
    return r;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed cluster reply: ") + e.what());
  }
}

}  // namespace tos::reservation
