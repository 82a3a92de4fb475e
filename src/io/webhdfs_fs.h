// HDFS through its REST interface (WebHDFS), over libcurl: serves hdfs:// and webhdfs:// URIs.
//
// hdfs://AUTHORITY/path finds the namenodes' HTTP addresses in the Hadoop configuration
// (HadoopConfig: an HA nameservice, or the namenode whose RPC address AUTHORITY is);
// webhdfs://HOST:PORT/path names the HTTP address itself. Requests run as the simple-auth
// user (user.name). Transient failures (connection refused or reset, a stalled transfer, 5xx,
// a standby namenode) are retried with backoff, moving to the next namenode of an HA pair;
// definitive ones (missing file, permission denied) are not. Reads are ranged, several
// ranges ahead; writes go to the datanode in chunks (CREATE, then APPEND), and a chunk whose
// outcome is unknown is checked against the file's length, so a file is never silently short.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "io/hadoop_conf.h"
#include "tos/fs.h"

namespace tos {

struct WebHdfsOptions {
  // The simple-authentication user; empty: HadoopUserName().
  std::string user;
  double connect_timeout_s = 5;
  // A transfer that moves no byte for this long fails (and is retried): never a hang.
  double stall_timeout_s = 20;
  // Tries per request for transient failures, with exponential backoff from first_backoff_s.
  int attempts = 4;
  double first_backoff_s = 0.25;
  // Reads fetch ranges of this many bytes, read_ahead_ranges of them at once (from the
  // datanodes, in parallel) while the current one is consumed: memory per open file is at most
  // (1 + read_ahead_ranges) ranges.
  size_t read_range_bytes = size_t{8} << 20;
  size_t read_ahead_ranges = 3;
  // Writes send the data in chunks of this many bytes.
  size_t write_chunk_bytes = size_t{16} << 20;
};

// `conf` supplies fs.defaultFS and the namenodes' addresses. Kept for the FileSystem's life.
std::shared_ptr<FileSystem> NewWebHdfsFileSystem(HadoopConfig conf, WebHdfsOptions options = {});

// Splits "hdfs://auth/p" into its authority and path ("/p"; "/" when none). False when `uri`
// has no scheme.
bool SplitHdfsUri(const std::string& uri, std::string* authority, std::string* path);

}  // namespace tos
