#include "util/rate_limit.h"

#include "tos/log.h"

namespace tos {

void RateLimitedWarnings::ReportHeld(const std::string& source, Source& s, Clock::time_point now) {
  if (s.held == 0) return;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - s.printed_at).count();
  LogWarning(std::to_string(s.held) + " more like this from " + source + " in the last " +
             std::to_string(secs) + " s, the last: " + s.last);
  s.held = 0;
  s.last.clear();
}

void RateLimitedWarnings::Warn(const std::string& source, const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  auto it = sources_.find(source);
  if (it == sources_.end() && sources_.size() >= max_sources_) {
    // Many sources at once: forget the quiet ones; if still full, count under one entry.
    for (auto i = sources_.begin(); i != sources_.end();) {
      if (i->second.held == 0 && now - i->second.printed_at >= interval_) {
        i = sources_.erase(i);
      } else {
        ++i;
      }
    }
    if (sources_.size() >= max_sources_) it = sources_.emplace("other sources", Source{}).first;
  }
  if (it == sources_.end()) it = sources_.emplace(source, Source{}).first;
  Source& s = it->second;
  if (s.printed_at != Clock::time_point{} && now - s.printed_at < interval_) {
    ++s.held;
    s.last = line;
    return;
  }
  ReportHeld(it->first, s, now);
  s.printed_at = now;
  LogWarning(line);
}

void RateLimitedWarnings::Flush(bool all) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  for (auto& [source, s] : sources_) {
    if (s.held > 0 && (all || now - s.printed_at >= interval_)) ReportHeld(source, s, now);
  }
}

}  // namespace tos
