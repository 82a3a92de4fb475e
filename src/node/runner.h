// The node runner: what a process started by a launcher does before, around and after the
// user's map_fun (docs/protocol.md). tos::Main (src/main) calls it in a node process.
#pragma once

#include <string>
#include <vector>

#include "tos/tos.h"

namespace tos {

// Joins the cluster, runs map_fun, tells the driver how it ended. The process exit code:
// 0 map_fun returned, 1 it threw, 2 the node could not join.
int RunNode(const MapFun& map_fun);

// What ProgramArgs() returns: argv[1..], set once by tos::Main.
void SetProgramArgs(std::vector<std::string> args);

// Flushes the standard streams and ends the process without running static destructors
// (threads the user started may still be running).
[[noreturn]] void ExitNow(int code);

}  // namespace tos
