// tos::Main, the entry point of every TorchOnSpark program: one executable is the driver, a
// node, and the Spark bridge's helpers, depending on how it was started. This module sits on
// top of the others (docs/modules.md): it is the one place that knows every process mode.
#include <signal.h>

#include "node/runner.h"
#include "spark/bridge.h"
#include "tos/log.h"
#include "tos/tos.h"

namespace tos {

int Main(int argc, char** argv, const MapFun& map_fun, const DriverFun& driver_fun) {
  SetProgramArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (spark::IsFeedClient()) ExitNow(spark::RunFeedClient());
  if (spark::IsDriverService()) ExitNow(spark::RunDriverService(ProgramArgs()));
  if (IsNodeProcess()) {
    ::signal(SIGPIPE, SIG_IGN);
    ExitNow(RunNode(map_fun));  // never run static destructors under threads the user may have left
  }
  SetLogTag("driver");
  ::signal(SIGPIPE, SIG_IGN);
  return driver_fun(ProgramArgs());
}

}  // namespace tos
