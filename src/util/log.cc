#include "tos/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace tos {
namespace {

std::mutex g_mu;
std::string g_tag = "tos";
int g_level = [] {
  const char* e = std::getenv("TOS_LOG_LEVEL");
  if (!e || !*e || !std::strcmp(e, "info")) return 1;
  if (!std::strcmp(e, "debug")) return 0;
  if (!std::strcmp(e, "warning")) return 2;
  if (!std::strcmp(e, "error")) return 3;
  // Said once, as the process starts: a typo would otherwise silently hide debug lines.
  std::fprintf(stderr, "TOS_LOG_LEVEL=%s is not one of debug, info, warning, error: using info\n",
               e);
  return 1;
}();

}  // namespace

void SetLogTag(const std::string& tag) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_tag = tag;
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

void Log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) < g_level) return;
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  localtime_r(&tv.tv_sec, &t);
  char ts[32];
  strftime(ts, sizeof(ts), "%H:%M:%S", &t);
  static const char kLevels[] = "DIWE";
  std::string tag;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    tag = g_tag;
  }
  char head[96];
  snprintf(head, sizeof(head), "%s.%03d %c [%s] ", ts, static_cast<int>(tv.tv_usec / 1000),
           kLevels[static_cast<int>(level)], tag.c_str());
  std::string line = head + message + "\n";
  ssize_t unused = ::write(2, line.data(), line.size());
  (void)unused;
}

}  // namespace tos
