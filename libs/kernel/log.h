// JSON logging for every process. One line per event:
//   {"ts":"2026-11-24T07:19:08.123Z","level":"info","service":"incident","msg":"...","correlation_id":"...",...}
// Extra fields are appended in the order given. Values are escaped as JSON strings. A field named like one of
// the fixed keys is written as "field_<key>" so that no line has a key twice.
// Callers pass masked values (MaskPhone, MaskEmail) and never tokens or keys. As a safety net, the message
// and every field value go through RedactSecrets before they are written, so a registered secret, a bearer
// token or a URL password that slips into a line is replaced by "[redacted]".
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
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  std::string_view key;
  std::string value;
};

// Sets the service name and minimum level ("debug", "info", "warn", "error"); writes to stdout.
// Returns false for an unknown level name (the level is then "info"). May be called again (tests do).
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

// Registers a secret value (a token, password or key read from the environment at startup): from now on it is
// replaced by "[redacted]" wherever it appears in a log line. Values shorter than kMinSecretLength are
// ignored (blanking every "abc" in every line would garble the logs without protecting anything).
// Thread-safe.
inline constexpr size_t kMinSecretLength = 4;
void RegisterSecret(std::string_view value);
// For tests: forgets every registered secret.
void ClearSecretsForTest();

// Returns `text` with secrets replaced by "[redacted]":
//   - every value given to RegisterSecret;
//   - the credentials after "Bearer " or "Basic " (any case), as in an Authorization header;
//   - the password in a URL's userinfo ("postgresql://user:pw@host" -> "postgresql://user:[redacted]@host")
//     and a libpq "password=..." keyword;
//   - Telegram bot tokens ("123456789:AAH..." : digits, a colon, 30+ token characters).
std::string RedactSecrets(std::string_view text);

// "+79991234567" -> "+7999****567": keeps the first 5 and last 3 characters. Short inputs become "****".
std::string MaskPhone(std::string_view phone);
// "mikhail@mail.ru" -> "m***@mail.ru".
std::string MaskEmail(std::string_view email);

}  // namespace protectogram::kernel
