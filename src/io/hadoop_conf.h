// Hadoop client configuration: the properties of $HADOOP_CONF_DIR/core-site.xml and
// hdfs-site.xml, read the way Hadoop's clients read them, and what the HDFS client needs from
// them (fs.defaultFS, the namenodes' HTTP addresses, HA nameservices).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tos/status.h"

namespace tos {

class HadoopConfig {
 public:
  // Reads core-site.xml and hdfs-site.xml from `conf_dir` (a missing file is skipped; a file
  // that is not a Hadoop configuration is an error naming it). An empty dir gives no properties.
  static Result<HadoopConfig> Load(const std::string& conf_dir);
  // The configuration of $HADOOP_CONF_DIR, read once per process (an error is kept and returned
  // to every caller).
  static const Result<HadoopConfig>& FromEnvironment();
  // Parses one *-site.xml text into this configuration; `what` names it in errors.
  Status AddSiteXml(const std::string& text, const std::string& what);

  // The value of `key`, or `fallback`. Values are trimmed, as Hadoop does.
  std::string Get(const std::string& key, const std::string& fallback = "") const;
  void Set(const std::string& key, const std::string& value) { props_[key] = value; }
  const std::string& conf_dir() const { return conf_dir_; }

  // The WebHDFS (HTTP) addresses, host:port, of the namenodes serving `authority` of an
  // hdfs:// URI: an HA nameservice's namenodes in the configured order; the namenode whose
  // RPC address is `authority`; else `authority`'s host with the default HTTP port 9870.
  // An empty authority means fs.defaultFS's.
  Result<std::vector<std::string>> NamenodeHttpAddresses(const std::string& authority) const;

 private:
  std::string conf_dir_;
  std::map<std::string, std::string> props_;
};

// The default namenode HTTP port of Hadoop 3 (dfs.namenode.http-address's default).
inline constexpr int kDefaultNamenodeHttpPort = 9870;

// The user HDFS requests run as with simple authentication: HADOOP_USER_NAME, else the login
// name of the process's user.
std::string HadoopUserName();

}  // namespace tos
