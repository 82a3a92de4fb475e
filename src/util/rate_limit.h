// Warnings that a remote party can trigger at will (unauthenticated connections) printed at
// most once per source per interval; the lines held back are counted and reported with the
// next line for that source, or by Flush() once the interval is over.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace tos {

class RateLimitedWarnings {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimitedWarnings(std::chrono::milliseconds interval, size_t max_sources = 4096)
      : interval_(interval), max_sources_(max_sources) {}

  // Logs `line` now, or counts it if `source` had a line logged less than an interval ago.
  void Warn(const std::string& source, const std::string& line);
  // Reports the count of held-back lines of every source whose interval is over (all: of
  // every source, as when the server stops).
  void Flush(bool all = false);

 private:
  struct Source {
    Clock::time_point printed_at{};
    uint64_t held = 0;
    std::string last;  // the last held-back line
  };
  void ReportHeld(const std::string& source, Source& s, Clock::time_point now);  // requires mu_

  const std::chrono::milliseconds interval_;
  const size_t max_sources_;
  std::mutex mu_;
  std::map<std::string, Source> sources_;
};

}  // namespace tos
