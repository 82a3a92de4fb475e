#include "reservation/messages.h"

#include <nlohmann/json.hpp>

namespace tos::reservation {

using nlohmann::json;

std::string EncodeRegistration(const Registration& r) {
  return json{{"executor_id", r.executor_id}, {"host", r.host},   {"port", r.port},
              {"feed_port", r.feed_port},     {"pid", r.pid},     {"instance", r.instance}}
      .dump();
}

Result<Registration> DecodeRegistration(const std::string& payload) {
  try {
    auto j = json::parse(payload);
    Registration r;
    r.executor_id = j.at("executor_id").get<int>();
    r.host = j.at("host").get<std::string>();
    r.port = j.at("port").get<int>();
    r.feed_port = j.at("feed_port").get<int>();
    r.pid = j.at("pid").get<int>();
    r.instance = j.at("instance").get<std::string>();
    if (r.executor_id < 0 || r.port <= 0 || r.port > 65535 || r.feed_port < 0 ||
        r.feed_port > 65535 || r.host.empty() || r.host.size() > 255) {
      return InvalidArgument("registration with out-of-range fields");
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
    r.task_index = j.at("task_index").get<int>();
    r.num_executors = j.at("num_executors").get<int>();
    for (auto& [k, v] : j.at("feeds").items()) r.feed_addresses[std::stoi(k)] = v.get<std::string>();
    return r;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed cluster reply: ") + e.what());
  }
}

}  // namespace tos::reservation
