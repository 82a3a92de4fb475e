#include "io/hadoop_conf.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <pugixml.hpp>
#include <sstream>

namespace tos {
namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = Trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// "host:port" with the port given, or host + the default HTTP port.
std::string WithHttpPort(const std::string& host_port) {
  if (host_port.find(':') != std::string::npos) return host_port;
  return host_port + ":" + std::to_string(kDefaultNamenodeHttpPort);
}

std::string AuthorityOf(const std::string& uri) {
  size_t s = uri.find("://");
  if (s == std::string::npos) return "";
  size_t begin = s + 3;
  size_t end = uri.find('/', begin);
  return uri.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace

Status HadoopConfig::AddSiteXml(const std::string& text, const std::string& what) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(text.data(), text.size());
  if (!parsed) {
    return InvalidArgument(what + ": not valid XML at byte " + std::to_string(parsed.offset) +
                           " (" + parsed.description() + "): fix or remove the file");
  }
  pugi::xml_node root = doc.child("configuration");
  if (!root) {
    return InvalidArgument(what + ": not a Hadoop configuration (no <configuration> element)");
  }
  for (pugi::xml_node p : root.children("property")) {
    std::string name = Trim(p.child_value("name"));
    if (name.empty()) continue;
    props_[name] = Trim(p.child_value("value"));
  }
  return Status::OK();
}

Result<HadoopConfig> HadoopConfig::Load(const std::string& conf_dir) {
  HadoopConfig conf;
  conf.conf_dir_ = conf_dir;
  if (conf_dir.empty()) return conf;
  for (const char* name : {"core-site.xml", "hdfs-site.xml"}) {
    const std::string path = conf_dir + "/" + name;
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    TOS_RETURN_IF_ERROR(conf.AddSiteXml(text, path));
  }
  return conf;
}

const Result<HadoopConfig>& HadoopConfig::FromEnvironment() {
  static const Result<HadoopConfig>* conf = [] {
    const char* dir = std::getenv("HADOOP_CONF_DIR");
    auto* r = new Result<HadoopConfig>(Load(dir != nullptr ? dir : ""));
    return r;
  }();
  return *conf;
}

std::string HadoopConfig::Get(const std::string& key, const std::string& fallback) const {
  auto it = props_.find(key);
  return it == props_.end() ? fallback : it->second;
}

Result<std::vector<std::string>> HadoopConfig::NamenodeHttpAddresses(
    const std::string& authority_in) const {
  std::string authority = authority_in;
  if (authority.empty()) {
    const std::string default_fs = Get("fs.defaultFS");
    if (default_fs.rfind("hdfs://", 0) != 0) {
      return InvalidArgument(
          "an hdfs:/// path names no namenode and fs.defaultFS is '" + default_fs +
          "', not hdfs://: give the namenode (hdfs://HOST:PORT/path) or set HADOOP_CONF_DIR to a "
          "directory whose core-site.xml sets fs.defaultFS");
    }
    authority = AuthorityOf(default_fs);
  }
  std::vector<std::string> out;
  const std::string where =
      conf_dir_.empty() ? "(no HADOOP_CONF_DIR)" : conf_dir_ + "/hdfs-site.xml";
  // An HA nameservice.
  for (const std::string& ns : SplitCommas(Get("dfs.nameservices"))) {
    if (ns != authority) continue;
    const auto nns = SplitCommas(Get("dfs.ha.namenodes." + ns));
    for (const std::string& nn : nns) {
      std::string http = Get("dfs.namenode.http-address." + ns + "." + nn);
      if (http.empty()) {
        return InvalidArgument(where + ": nameservice '" + ns + "' lists namenode '" + nn +
                               "' but sets no dfs.namenode.http-address." + ns + "." + nn);
      }
      out.push_back(WithHttpPort(http));
    }
    if (out.empty()) {
      std::string http = Get("dfs.namenode.http-address." + ns);
      if (http.empty()) {
        return InvalidArgument(where + ": nameservice '" + ns + "' has no dfs.ha.namenodes." + ns +
                               " and no dfs.namenode.http-address." + ns);
      }
      out.push_back(WithHttpPort(http));
    }
    return out;
  }
  // A namenode named by its RPC address: its configured HTTP address.
  for (const auto& [key, value] : props_) {
    static const std::string kRpc = "dfs.namenode.rpc-address";
    if (key.rfind(kRpc, 0) != 0 || value != authority) continue;
    std::string http = Get("dfs.namenode.http-address" + key.substr(kRpc.size()));
    if (!http.empty()) return std::vector<std::string>{WithHttpPort(http)};
  }
  std::string host = authority;
  if (size_t colon = host.rfind(':'); colon != std::string::npos && host.back() != ']') {
    host = host.substr(0, colon);
  }
  // The default file system's namenode, when no dfs.namenode.rpc-address is set: Hadoop takes
  // its RPC address from fs.defaultFS, and dfs.namenode.http-address is its HTTP address (a
  // wildcard host there, as in Hadoop's own default 0.0.0.0:9870, means the namenode's host).
  if (Get("dfs.namenode.rpc-address").empty() && authority == AuthorityOf(Get("fs.defaultFS"))) {
    std::string http = Get("dfs.namenode.http-address");
    if (!http.empty()) {
      http = WithHttpPort(http);
      if (http.rfind("0.0.0.0:", 0) == 0) http = host + http.substr(std::string("0.0.0.0").size());
      return std::vector<std::string>{http};
    }
  }
  // Only the host is known: the default HTTP port.
  return std::vector<std::string>{host + ":" + std::to_string(kDefaultNamenodeHttpPort)};
}

std::string HadoopUserName() {
  if (const char* u = std::getenv("HADOOP_USER_NAME"); u != nullptr && *u != '\0') return u;
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_name != nullptr) {
    return found->pw_name;
  }
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  return "nobody";
}

}  // namespace tos
