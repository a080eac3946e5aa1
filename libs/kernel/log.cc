#include "libs/kernel/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace protectogram::kernel {
namespace {

struct LogState {
  std::mutex mu;
  std::string service = "protectogram";
  std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
  std::string* capture = nullptr;
};

LogState& State() {
  static auto* state = new LogState();
  return *state;
}

thread_local std::string t_correlation_id;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

bool InitLogging(std::string_view service, std::string_view level) {
  LogState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  state.service = std::string(service);
  bool known = true;
  LogLevel parsed = LogLevel::kInfo;
  if (level == "debug") {
    parsed = LogLevel::kDebug;
  } else if (level == "info" || level.empty()) {
    parsed = LogLevel::kInfo;
  } else if (level == "warn" || level == "warning") {
    parsed = LogLevel::kWarn;
  } else if (level == "error") {
    parsed = LogLevel::kError;
  } else {
    known = false;
  }
  state.min_level = static_cast<int>(parsed);
  // spdlog only carries our pre-formatted JSON lines to stdout.
  auto logger = spdlog::stdout_logger_mt("json");
  logger->set_pattern("%v");
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return known;
}

void CaptureLogsForTest(std::string* sink) {
  std::lock_guard<std::mutex> lock(State().mu);
  State().capture = sink;
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  LogState& state = State();
  if (static_cast<int>(level) < state.min_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(160 + msg.size());
  line += "{\"ts\":";
  AppendJsonString(line, absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  line += ",\"level\":";
  AppendJsonString(line, LevelName(level));
  line += ",\"service\":";
  {
    std::lock_guard<std::mutex> lock(state.mu);
    AppendJsonString(line, state.service);
  }
  line += ",\"msg\":";
  AppendJsonString(line, msg);
  line += ",\"correlation_id\":";
  AppendJsonString(line, t_correlation_id);
  for (const LogField& field : fields) {
    line.push_back(',');
    AppendJsonString(line, field.key);
    line.push_back(':');
    AppendJsonString(line, field.value);
  }
  line.push_back('}');
  {
    std::lock_guard<std::mutex> lock(state.mu);
    if (state.capture != nullptr) *state.capture += line + "\n";
  }
  if (auto logger = spdlog::default_logger_raw(); logger != nullptr) {
    logger->info(line);
  } else {
    std::fputs((line + "\n").c_str(), stdout);
  }
}

CorrelationScope::CorrelationScope(std::string correlation_id) : previous_(std::move(t_correlation_id)) {
  t_correlation_id = std::move(correlation_id);
}

CorrelationScope::~CorrelationScope() { t_correlation_id = std::move(previous_); }

const std::string& CurrentCorrelationId() { return t_correlation_id; }

std::string NewCorrelationId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 0xF];
    id[16 + i] = kHex[(b >> (i * 4)) & 0xF];
  }
  return id;
}

std::string MaskPhone(std::string_view phone) {
  if (phone.size() < 9) return "****";
  return std::string(phone.substr(0, 5)) + "****" + std::string(phone.substr(phone.size() - 3));
}

std::string MaskEmail(std::string_view email) {
  size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0) return "***";
  return std::string(email.substr(0, 1)) + "***" + std::string(email.substr(at));
}

}  // namespace protectogram::kernel
