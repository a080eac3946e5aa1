#include "libs/kernel/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "libs/kernel/log.h"

extern char** environ;

#ifndef PROTECTOGRAM_VERSION
#define PROTECTOGRAM_VERSION "0.0.0"
#endif

namespace protectogram::kernel {
namespace {

// A value echoed in an error message: printable ASCII only and bounded, so one bad value cannot break the
// "one line" promise or flood the terminal.
std::string Quote(std::string_view value) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(value[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (value.size() > kMax) out += "...";
  out += "\"";
  return out;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t value = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// The password of "scheme://user:password@host...", or "".
std::string_view UrlPassword(std::string_view value) {
  size_t scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::string_view rest = value.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string_view userinfo = authority.substr(0, at);
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return {};
  return userinfo.substr(colon + 1);
}

// An IPv4 or IPv6 address literal, as the listeners take it (no brackets, no port, no name: a name would
// resolve to one address family only).
bool IsIpLiteral(const std::string& address) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, address.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buffer) == 1;
}

void RegisterUrlPassword(std::string_view url) {
  std::string_view password = UrlPassword(url);
  if (!password.empty()) RegisterSecret(password);
}

}  // namespace

std::optional<std::string> ProcessEnv::Get(std::string_view name) const {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::vector<std::string> ProcessEnv::Names() const {
  std::vector<std::string> names;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv(*entry);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == kv.size()) continue;
    names.emplace_back(kv.substr(0, eq));
  }
  return names;
}

MapEnv& MapEnv::Set(std::string name, std::string value) {
  values_[std::move(name)] = std::move(value);
  return *this;
}

std::optional<std::string> MapEnv::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::vector<std::string> MapEnv::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, value] : values_) {
    if (!value.empty()) names.push_back(name);
  }
  return names;
}

void ConfigReader::AddMalformed(std::string_view name, std::string_view expectation, std::string_view value) {
  AddError(std::string(name) + " " + std::string(expectation) + ", got " + Quote(value));
}

std::string ConfigReader::ChoiceList(const std::vector<std::string_view>& names) const {
  // (Debian's absl::StrJoin cannot format std::string_view.)
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string ConfigReader::Required(std::string_view name) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) {
    AddError(std::string(name) + " is required");
    return "";
  }
  return *raw;
}

std::string ConfigReader::Optional(std::string_view name, std::string_view default_value) {
  return Raw(name).value_or(std::string(default_value));
}

std::string ConfigReader::RequiredSecret(std::string_view name) {
  std::string value = Required(name);
  RegisterSecret(value);
  return value;
}

std::string ConfigReader::OptionalSecret(std::string_view name, std::string_view default_value) {
  std::string value = Optional(name, default_value);
  RegisterSecret(value);
  return value;
}

int64_t ConfigReader::Int(std::string_view name, int64_t default_value, int64_t min, int64_t max) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) return default_value;
  std::optional<int64_t> value = ParseInt(*raw);
  if (!value.has_value() || *value < min || *value > max) {
    AddMalformed(name, "must be an integer between " + std::to_string(min) + " and " + std::to_string(max),
                 *raw);
    return default_value;
  }
  return *value;
}

uint16_t ConfigReader::Port(std::string_view name, uint16_t default_value) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) return default_value;
  std::optional<int64_t> value = ParseInt(*raw);
  if (!value.has_value() || *value < 0 || *value > 65535 || (*raw)[0] == '-' || (*raw)[0] == '+') {
    AddMalformed(name, "must be a port number", *raw);
    return default_value;
  }
  return static_cast<uint16_t>(*value);
}

bool ConfigReader::Bool(std::string_view name, bool default_value) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) return default_value;
  std::string lower = Lowercase(*raw);
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  AddMalformed(name, "must be true or false", *raw);
  return default_value;
}

absl::Duration ConfigReader::Duration(std::string_view name, absl::Duration default_value) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) return default_value;
  absl::Duration value;
  if (!absl::ParseDuration(*raw, &value) || value < absl::ZeroDuration() ||
      value == absl::InfiniteDuration()) {
    AddMalformed(name, "must be a duration such as 5s or 250ms", *raw);
    return default_value;
  }
  return value;
}

absl::Duration ConfigReader::Milliseconds(std::string_view name, absl::Duration default_value,
                                          absl::Duration max) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) return default_value;
  int64_t max_ms = absl::ToInt64Milliseconds(max);
  std::optional<int64_t> value = ParseInt(*raw);
  if (!value.has_value() || *value < 0 || *value > max_ms) {
    AddMalformed(name, "must be a number of milliseconds between 0 and " + std::to_string(max_ms), *raw);
    return default_value;
  }
  return absl::Milliseconds(*value);
}

void ConfigReader::AddError(std::string message) { errors_.push_back(std::move(message)); }

absl::Status ConfigReader::Finish() const {
  if (errors_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors_, "; "));
}

std::string_view AppEnvName(AppEnv env) {
  switch (env) {
    case AppEnv::kDev:
      return "dev";
    case AppEnv::kStaging:
      return "staging";
    case AppEnv::kProd:
      return "prod";
  }
  return "dev";
}

ServiceDefaults IncidentDefaults() { return {"incident", 50051, std::nullopt, 9101}; }
ServiceDefaults NotificationDefaults() { return {"notification", 50052, std::nullopt, 9102}; }
ServiceDefaults TelephonyDefaults() { return {"telephony", 50053, std::nullopt, 9103}; }
ServiceDefaults EdgeDefaults() { return {"edge", std::nullopt, 8080, std::nullopt}; }

absl::StatusOr<ProcessConfig> LoadProcessConfig(const Env& env, const ServiceDefaults& defaults) {
  ConfigReader reader(env);
  ProcessConfig config;
  config.service = defaults.name;

  size_t errors_before = reader.errors().size();
  config.app_env = reader.Enum<AppEnv>(
      "APP_ENV", {{"dev", AppEnv::kDev}, {"staging", AppEnv::kStaging}, {"prod", AppEnv::kProd}},
      AppEnv::kDev);
  // With an unknown APP_ENV we cannot tell which settings are required: report only that.
  const bool env_known = reader.errors().size() == errors_before;
  const bool strict = env_known && config.app_env != AppEnv::kDev;

  config.log_level = std::string(reader.Enum<std::string_view>(
      "LOG_LEVEL", {{"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"}}, "info"));
  config.metrics_enabled = reader.Bool("METRICS_ENABLED", true);
  if (defaults.grpc_port.has_value()) config.grpc_port = reader.Port("GRPC_PORT", *defaults.grpc_port);
  if (defaults.http_port.has_value()) config.http_port = reader.Port("HTTP_PORT", *defaults.http_port);
  if (defaults.metrics_port.has_value()) {
    config.metrics_port = reader.Port("METRICS_PORT", *defaults.metrics_port);
  }

  if (strict) {
    config.admin_token = reader.RequiredSecret("ADMIN_TOKEN");
    if (config.admin_token == kDevAdminToken || config.admin_token == "change-me") {
      reader.AddError("ADMIN_TOKEN must be a real secret in " + std::string(AppEnvName(config.app_env)) +
                      ", not the placeholder from the examples");
    }
    config.database_url = reader.Required("DATABASE_URL");
  } else {
    config.admin_token = reader.OptionalSecret("ADMIN_TOKEN", env_known ? kDevAdminToken : "");
    config.database_url = reader.Optional("DATABASE_URL", env_known ? kDevDatabaseUrl : "");
  }
  config.database_direct_url = reader.Optional("DATABASE_DIRECT_URL", "");
  RegisterUrlPassword(config.database_url);
  RegisterUrlPassword(config.database_direct_url);
  config.db_pool_size = static_cast<int>(reader.Int("DB_POOL_SIZE", 4, 1, 1000));
  config.bind_address = reader.Optional("BIND_ADDRESS", "0.0.0.0");
  if (!IsIpLiteral(config.bind_address)) {
    reader.AddError("BIND_ADDRESS must be an IP address such as 0.0.0.0 or :: (no brackets), got " +
                    Quote(config.bind_address));
  }
  config.shutdown_grace =
      reader.Milliseconds("SHUTDOWN_GRACE_MS", absl::Milliseconds(5000), absl::Milliseconds(600000));

  // Two listeners on one fixed port would fail at bind time with a less helpful message.
  auto check_distinct = [&](std::string_view a_name, const std::optional<uint16_t>& a,
                            std::string_view b_name, const std::optional<uint16_t>& b) {
    if (a.has_value() && b.has_value() && *a != 0 && *a == *b) {
      reader.AddError(std::string(b_name) + " must differ from " + std::string(a_name) + " (both " +
                      std::to_string(*a) + ")");
    }
  };
  check_distinct("GRPC_PORT", config.grpc_port, "METRICS_PORT", config.metrics_port);
  check_distinct("HTTP_PORT", config.http_port, "METRICS_PORT", config.metrics_port);
  check_distinct("GRPC_PORT", config.grpc_port, "HTTP_PORT", config.http_port);

  if (absl::Status status = reader.Finish(); !status.ok()) return status;
  return config;
}

void RegisterSecretsFromEnv(const Env& env) {
  static constexpr std::string_view kSecretWords[] = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY"};
  for (const std::string& name : env.Names()) {
    std::optional<std::string> value = env.Get(name);
    if (!value.has_value()) continue;
    std::string upper(name);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // Guessing by name can hit a non-secret (FEATURE_KEY=true): only values long enough to be a credential,
    // so that common words and numbers in log lines are not blanked.
    const bool credential_like =
        value->size() >= 8 && value->find_first_not_of("0123456789") != std::string::npos;
    for (std::string_view word : kSecretWords) {
      if (credential_like && upper.find(word) != std::string::npos) {
        RegisterSecret(*value);
        break;
      }
    }
    RegisterUrlPassword(*value);
  }
}

std::map<std::string, std::string> TelegramVariables(const Env& env) {
  std::map<std::string, std::string> out;
  for (const std::string& name : env.Names()) {
    if (!absl::StartsWith(name, "TELEGRAM_") && !absl::StartsWith(name, "TG_")) continue;
    std::optional<std::string> value = env.Get(name);
    if (!value.has_value()) continue;
    if (absl::StrContains(name, "TOKEN") || absl::StrContains(name, "SECRET")) RegisterSecret(*value);
    out.emplace(name, *value);
  }
  return out;
}

void ExitWithConfigError(const absl::Status& status) {
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "config error: %s\n", message.c_str());
  std::fflush(stderr);
  std::exit(2);
}

CommandLine ParseCommandLine(const std::vector<std::string_view>& args, std::string_view program,
                             const ServiceDefaults* defaults) {
  CommandLine result;
  for (std::string_view arg : args) {
    if (arg == "--help") {
      result.action = CommandLine::Action::kExit;
      result.exit_code = 0;
      result.output =
          "Usage: " + std::string(program) +
          " [--help] [--version] [--check-config]\n"
          "  --help          print this text\n"
          "  --version       print the version\n"
          "  --check-config  load and validate the configuration as at start-up, connect to nothing, print\n"
          "                  \"config ok\" (exit 0) or the \"config error: ...\" line (exit 2)\n"
          "Configured by environment variables (APP_ENV, LOG_LEVEL, DATABASE_URL, ADMIN_TOKEN, BIND_ADDRESS, "
          "ports); see .env.example and docs/operations.md.\n";
      if (defaults != nullptr) {
        // One line, NAME=default pairs: tests/deploy/check_deploy.mjs reads the ports from it.
        std::string ports;
        auto add = [&ports](std::string_view name, const std::optional<uint16_t>& port) {
          if (!port.has_value()) return;
          ports += " " + std::string(name) + "=" + std::to_string(*port);
        };
        add("GRPC_PORT", defaults->grpc_port);
        add("HTTP_PORT", defaults->http_port);
        add("METRICS_PORT", defaults->metrics_port);
        result.output += "Ports (defaults):" + ports +
                         (defaults->metrics_port.has_value() ? "" : " (metrics and health on HTTP_PORT)") +
                         "\n";
      }
      return result;
    }
    if (arg == "--version") {
      result.action = CommandLine::Action::kExit;
      result.exit_code = 0;
      result.output = std::string(program) + " " + std::string(Version()) + "\n";
      return result;
    }
    if (arg == "--check-config") {
      result.check_config = true;
      continue;
    }
    // (The wording predates --check-config; tests/integration/kernel/process_test.cc pins it.)
    result.action = CommandLine::Action::kExit;
    result.exit_code = 2;
    result.check_config = false;
    result.output =
        std::string(program) + ": unknown argument " + Quote(arg) +
        " (only --help, --version and --check-config are accepted; settings come from the environment)\n";
    return result;
  }
  return result;
}

std::string_view Version() { return PROTECTOGRAM_VERSION; }

}  // namespace protectogram::kernel
