#include "libs/kernel/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <utility>
#include <vector>

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
  // Our own logger, not spdlog's default one: that one prefixes a timestamp and level and would break the
  // one-JSON-object-per-line contract. nullptr before InitLogging (lines then go to stdout directly).
  std::shared_ptr<spdlog::logger> logger;
};

LogState& State() {
  static auto* state = new LogState();
  return *state;
}

thread_local std::string t_correlation_id;

constexpr std::string_view kRedacted = "[redacted]";

struct SecretStore {
  std::shared_mutex mu;
  std::vector<std::string> values;  // longest first, so a secret containing another is blanked whole
};

SecretStore& Secrets() {
  static auto* store = new SecretStore();
  return *store;
}

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// Characters of an RFC 6750 bearer token (b64token).
bool IsBearerChar(char c) {
  return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}
bool IsTelegramTokenChar(char c) { return IsAlnum(c) || c == '-' || c == '_'; }
// Where a URL's userinfo (or a keyword value) ends.
bool EndsValue(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '<' || c == '>' ||
         c == '&' || c == ',' || c == ';';
}

// Replaces the [begin, end) spans (sorted, non-overlapping) of `text` with "[redacted]".
std::string ReplaceSpans(std::string_view text, const std::vector<std::pair<size_t, size_t>>& spans) {
  if (spans.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size() + spans.size() * kRedacted.size());
  size_t pos = 0;
  for (const auto& [begin, end] : spans) {
    out.append(text.substr(pos, begin - pos));
    out.append(kRedacted);
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

std::string RedactRegistered(std::string_view text) {
  SecretStore& store = Secrets();
  std::shared_lock lock(store.mu);
  std::string out(text);
  for (const std::string& secret : store.values) {
    size_t pos = out.find(secret);
    while (pos != std::string::npos) {
      out.replace(pos, secret.size(), kRedacted);
      pos = out.find(secret, pos + kRedacted.size());
    }
  }
  return out;
}

// "Bearer <token>" (any case): the token.
void FindBearerTokens(std::string_view text, std::string_view lower,
                      std::vector<std::pair<size_t, size_t>>& spans) {
  constexpr std::string_view kBearer = "bearer";
  for (size_t pos = lower.find(kBearer); pos != std::string_view::npos; pos = lower.find(kBearer, pos + 1)) {
    if (pos > 0 && IsAlnum(text[pos - 1])) continue;
    size_t begin = pos + kBearer.size();
    if (begin >= text.size() || (text[begin] != ' ' && text[begin] != '\t')) continue;
    while (begin < text.size() && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
    size_t end = begin;
    while (end < text.size() && IsBearerChar(text[end])) ++end;
    if (end > begin) spans.emplace_back(begin, end);
  }
}

// "scheme://user:password@host": the password.
void FindUrlPasswords(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans) {
  for (size_t pos = text.find("://"); pos != std::string_view::npos; pos = text.find("://", pos + 3)) {
    size_t begin = pos + 3;
    size_t end = begin;
    size_t colon = std::string_view::npos;
    while (end < text.size() && text[end] != '@' && text[end] != '/' && text[end] != '?' &&
           text[end] != '#' && !EndsValue(text[end])) {
      if (text[end] == ':' && colon == std::string_view::npos) colon = end;
      ++end;
    }
    if (end < text.size() && text[end] == '@' && colon != std::string_view::npos && colon + 1 < end) {
      spans.emplace_back(colon + 1, end);
    }
  }
}

// libpq keyword form "password=...": the value.
void FindPasswordKeywords(std::string_view text, std::string_view lower,
                          std::vector<std::pair<size_t, size_t>>& spans) {
  constexpr std::string_view kKey = "password=";
  for (size_t pos = lower.find(kKey); pos != std::string_view::npos; pos = lower.find(kKey, pos + 1)) {
    if (pos > 0 && (IsAlnum(text[pos - 1]) || text[pos - 1] == '_')) continue;
    size_t begin = pos + kKey.size();
    size_t end = begin;
    while (end < text.size() && !EndsValue(text[end])) ++end;
    if (end > begin) spans.emplace_back(begin, end);
  }
}

// Telegram bot tokens: 5+ digits, ':', 30+ of [A-Za-z0-9_-].
void FindTelegramTokens(std::string_view text, std::vector<std::pair<size_t, size_t>>& spans) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsDigit(text[i]) || (i > 0 && IsDigit(text[i - 1]))) continue;
    size_t colon = i;
    while (colon < text.size() && IsDigit(text[colon])) ++colon;
    if (colon - i < 5 || colon >= text.size() || text[colon] != ':') continue;
    size_t end = colon + 1;
    while (end < text.size() && IsTelegramTokenChar(text[end])) ++end;
    if (end - colon - 1 >= 30) {
      spans.emplace_back(i, end);
      i = end;
    }
  }
}

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

bool IsFixedKey(std::string_view key) {
  return key == "ts" || key == "level" || key == "service" || key == "msg" || key == "correlation_id";
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
  // spdlog only carries our pre-formatted JSON lines to stdout. Re-initialising replaces the logger.
  spdlog::drop("json");
  auto logger = spdlog::stdout_logger_mt("json");
  logger->set_pattern("%v");
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  state.logger = std::move(logger);
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
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    AppendJsonString(line, state.service);
    logger = state.logger;
  }
  line += ",\"msg\":";
  AppendJsonString(line, RedactSecrets(msg));
  line += ",\"correlation_id\":";
  AppendJsonString(line, t_correlation_id);
  for (const LogField& field : fields) {
    line.push_back(',');
    // A field may not shadow a fixed key: duplicate keys make a line ambiguous to JSON readers.
    if (IsFixedKey(field.key)) {
      AppendJsonString(line, "field_" + std::string(field.key));
    } else {
      AppendJsonString(line, field.key);
    }
    line.push_back(':');
    AppendJsonString(line, RedactSecrets(field.value));
  }
  line.push_back('}');
  {
    std::lock_guard<std::mutex> lock(state.mu);
    if (state.capture != nullptr) *state.capture += line + "\n";
  }
  if (logger != nullptr) {
    logger->info(line);
  } else {
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
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

void RegisterSecret(std::string_view value) {
  if (value.size() < kMinSecretLength) return;
  SecretStore& store = Secrets();
  std::unique_lock lock(store.mu);
  if (std::find(store.values.begin(), store.values.end(), value) != store.values.end()) return;
  store.values.emplace_back(value);
  std::stable_sort(store.values.begin(), store.values.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void ClearSecretsForTest() {
  SecretStore& store = Secrets();
  std::unique_lock lock(store.mu);
  store.values.clear();
}

std::string RedactSecrets(std::string_view text) {
  // Registered values first: they are exact, and blanking them cannot create a pattern match.
  std::string out = RedactRegistered(text);
  std::string lower(out.size(), '\0');
  std::transform(out.begin(), out.end(), lower.begin(), Lower);
  std::vector<std::pair<size_t, size_t>> spans;
  FindBearerTokens(out, lower, spans);
  FindUrlPasswords(out, spans);
  FindPasswordKeywords(out, lower, spans);
  FindTelegramTokens(out, spans);
  if (spans.empty()) return out;
  // Merge overlapping spans (a URL password can also look like a Telegram token).
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<size_t, size_t>> merged;
  for (const auto& span : spans) {
    if (!merged.empty() && span.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, span.second);
    } else {
      merged.push_back(span);
    }
  }
  return ReplaceSpans(out, merged);
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
