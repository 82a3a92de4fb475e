#include "util/console.h"

#include <unistd.h>

#include <chrono>
#include <mutex>

namespace tos {
namespace {

// Off a terminal, the status line is printed as a plain line at most this often.
constexpr auto kPlainStatusInterval = std::chrono::seconds(10);
std::mutex g_mu;
std::string g_status;
auto g_last_plain = std::chrono::steady_clock::time_point{};

void WriteAll(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = ::write(2, s.data() + off, s.size() - off);
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}
}  // namespace

bool ConsoleIsTerminal() {
  static const bool tty = ::isatty(2) == 1;
  return tty;
}

void ConsoleLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (ConsoleIsTerminal() && !g_status.empty()) {
    WriteAll("\r\033[K" + line + "\n" + g_status);
  } else {
    WriteAll(line + "\n");
  }
}

void ConsoleStatus(const std::string& status) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (ConsoleIsTerminal()) {
    g_status = status;
    WriteAll("\r\033[K" + status);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (!status.empty() && now - g_last_plain >= kPlainStatusInterval) {
    g_last_plain = now;
    WriteAll(status + "\n");
  }
}

}  // namespace tos
