// The C++ side of the Spark bridge (docs/spark.md). The user's program, started by the
// Python package `torchonspark`, runs in one of two helper modes instead of its driver
// function; as a node it runs the ordinary node runner.
//
//   TOS_DRIVER_SERVICE=<JSON options>  on the Spark driver: Cluster::Run with an external
//       launcher; JSON events on stdout, JSON commands on stdin (RunDriverService).
//   TOS_FEED_CLIENT=1  in a Spark task: streams one partition, read as length-prefixed blocks
//       from stdin, to one node's feed server; inference results go to stdout (RunFeedClient).
#pragma once

#include <string>
#include <vector>

namespace tos::spark {

bool IsDriverService();
bool IsFeedClient();

// Both return the process exit code: 0 on success, 1 on failure (reported on stdout first).
int RunDriverService(const std::vector<std::string>& args);
int RunFeedClient();

}  // namespace tos::spark
