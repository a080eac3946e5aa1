// JSON logging for every process. One line per event:
//   {"ts":"2026-11-24T07:19:08.123Z","level":"info","service":"incident","msg":"...","correlation_id":"...",...}
// Extra fields are appended in the order given. Values are escaped as JSON strings.
// Secrets never go through here: callers pass masked values (MaskPhone, MaskEmail) and never tokens or keys.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace protectogram::kernel {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// One extra key/value on a log line.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, int64_t v) : key(k), value(std::to_string(v)) {}
  LogField(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
  LogField(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)) {}
  LogField(std::string_view k, double v) : key(k), value(std::to_string(v)) {}
  std::string_view key;
  std::string value;
};

// Sets the service name and minimum level ("debug", "info", "warn", "error"); writes to stdout.
// Returns false for an unknown level name (the level is then "info").
bool InitLogging(std::string_view service, std::string_view level);

// For tests: every line also goes to this string (nullptr to stop).
void CaptureLogsForTest(std::string* sink);

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
inline void LogDebug(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kDebug, msg, f);
}
inline void LogInfo(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kInfo, msg, f);
}
inline void LogWarn(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kWarn, msg, f);
}
inline void LogError(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kError, msg, f);
}

// Sets the correlation id carried by every log line written on this thread while the scope lives.
class CorrelationScope {
 public:
  explicit CorrelationScope(std::string correlation_id);
  ~CorrelationScope();
  CorrelationScope(const CorrelationScope&) = delete;
  CorrelationScope& operator=(const CorrelationScope&) = delete;

 private:
  std::string previous_;
};

// The current thread's correlation id ("" if none).
const std::string& CurrentCorrelationId();
// A new random correlation id (32 hex characters).
std::string NewCorrelationId();

// "+79991234567" -> "+7999****567": keeps the first 5 and last 3 characters. Short inputs become "****".
std::string MaskPhone(std::string_view phone);
// "mikhail@mail.ru" -> "m***@mail.ru".
std::string MaskEmail(std::string_view email);

}  // namespace protectogram::kernel
