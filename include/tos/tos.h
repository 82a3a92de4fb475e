// TorchOnSpark: one executable is both the driver and the node program.
//
//   void map_fun(const std::vector<std::string>& args, tos::Context& ctx) { ... }
//   int driver(const std::vector<std::string>& args) {
//     tos::ClusterOptions o; o.num_executors = 3; o.num_ps = 1;
//     auto cluster = tos::Cluster::Run(o); ...; return cluster->Shutdown().ok() ? 0 : 1;
//   }
//   int main(int argc, char** argv) { return tos::Main(argc, argv, map_fun, driver); }
//
// Run by a user, the binary is the driver; started by a launcher (which sets
// TOS_EXECUTOR_ID and friends in the environment) it is a node.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tos/cluster.h"
#include "tos/context.h"
#include "tos/log.h"
#include "tos/shard_reader.h"

namespace tos {

using MapFun = std::function<void(const std::vector<std::string>& args, Context& ctx)>;
using DriverFun = std::function<int(const std::vector<std::string>& args)>;

// Runs map_fun as a node when started by a launcher, driver_fun otherwise. Returns the exit
// code for main(). As a node: exit 0 if map_fun returned, 1 if it threw (the message is sent
// to the driver at once), 2 if the node could not join the cluster, 3 if the job was aborted.
int Main(int argc, char** argv, const MapFun& map_fun, const DriverFun& driver_fun);

// True in a process started as a node.
bool IsNodeProcess();

// argv[1..] as given to Main (what the launcher passes on to nodes by default).
const std::vector<std::string>& ProgramArgs();

}  // namespace tos
