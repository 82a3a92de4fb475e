// Logging to stderr: "2026-11-26 11:03:28.123 W [driver] message". On a node, stderr is its log
// file (tos_logs/<role>-<index>.log); the tag is the role, set by the runtime.
// Thread-safe (one write(2) per line).
#pragma once

#include <string>

namespace tos {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogTag(const std::string& tag);
void SetLogLevel(LogLevel level);  // also from $TOS_LOG_LEVEL=debug|info|warning|error
void Log(LogLevel level, const std::string& message);

inline void LogDebug(const std::string& m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(const std::string& m) { Log(LogLevel::kWarning, m); }
inline void LogError(const std::string& m) { Log(LogLevel::kError, m); }

}  // namespace tos
