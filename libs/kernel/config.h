// Typed configuration from the environment, read once at start.
//
// Env is where values come from: ProcessEnv (the real environment) or MapEnv (tests). An empty value counts
// as unset, so `DATABASE_DIRECT_URL=` in a .env file means "not set".
//
// ConfigReader turns names into typed values and collects every problem instead of stopping at the first; its
// Finish() is INVALID_ARGUMENT with the problems joined by "; " (each names its variable), e.g.
//   DATABASE_URL is required; GRPC_PORT must be a port number, got "abc"
// A process prints that as one line, "config error: <message>", and exits with code 2 (ExitWithConfigError).
// Values of secret settings (RequiredSecret/OptionalSecret) are registered with RegisterSecret so they can
// never reach a log line, and are never echoed in an error message.
//
// LoadProcessConfig reads the settings every process shares (SPEC §10); a service reads its own settings with
// its own ConfigReader and the same rules.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::kernel {

class Env {
 public:
  virtual ~Env() = default;
  // The value of `name`, or nullopt when it is unset or empty.
  virtual std::optional<std::string> Get(std::string_view name) const = 0;
  // Names of every variable with a non-empty value.
  virtual std::vector<std::string> Names() const = 0;
};

// The process environment (getenv). Read it before starting threads that might call setenv.
class ProcessEnv final : public Env {
 public:
  std::optional<std::string> Get(std::string_view name) const override;
  std::vector<std::string> Names() const override;
};

// A fixed map, for tests.
class MapEnv final : public Env {
 public:
  MapEnv() = default;
  MapEnv(std::initializer_list<std::pair<const std::string, std::string>> values)
      : values_(values.begin(), values.end()) {}
  explicit MapEnv(const std::map<std::string, std::string>& values) : values_(values.begin(), values.end()) {}
  MapEnv& Set(std::string name, std::string value);
  std::optional<std::string> Get(std::string_view name) const override;
  std::vector<std::string> Names() const override;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// Reads typed settings from an Env and collects errors. Every getter returns a usable value (the default, or
// a zero value after an error) so that loading can go on and report every problem at once.
class ConfigReader {
 public:
  explicit ConfigReader(const Env& env) : env_(env) {}

  // Error "NAME is required" when unset.
  std::string Required(std::string_view name);
  std::string Optional(std::string_view name, std::string_view default_value);
  // Same, and the value is registered as a secret (never logged, never echoed in errors).
  std::string RequiredSecret(std::string_view name);
  std::string OptionalSecret(std::string_view name, std::string_view default_value);

  // Decimal integer in [min, max]. Error: NAME must be an integer between MIN and MAX, got "x".
  int64_t Int(std::string_view name, int64_t default_value, int64_t min, int64_t max);
  // TCP port 0..65535 (0: pick a free one). Error: NAME must be a port number, got "x".
  uint16_t Port(std::string_view name, uint16_t default_value);
  // true/false, 1/0, yes/no, on/off (any case). Error: NAME must be true or false, got "x".
  bool Bool(std::string_view name, bool default_value);
  // An absl duration string such as "250ms", "5s", "1m30s". Error: NAME must be a duration such as 5s or
  // 250ms, got "x".
  absl::Duration Duration(std::string_view name, absl::Duration default_value);
  // A whole number of milliseconds in [0, max] (for *_MS settings). Error: NAME must be a number of
  // milliseconds between 0 and MAX, got "x".
  absl::Duration Milliseconds(std::string_view name, absl::Duration default_value, absl::Duration max);
  // One of `choices` (exact match). Error: NAME must be one of a, b, c, got "x".
  template <typename T>
  T Enum(std::string_view name, std::initializer_list<std::pair<std::string_view, T>> choices,
         T default_value);

  // Records a problem that is not about one value's syntax (e.g. two ports that collide).
  void AddError(std::string message);
  bool has_errors() const { return !errors_.empty(); }
  const std::vector<std::string>& errors() const { return errors_; }
  // OK, or INVALID_ARGUMENT with every error joined by "; ".
  absl::Status Finish() const;

 private:
  std::optional<std::string> Raw(std::string_view name) const { return env_.Get(name); }
  void AddMalformed(std::string_view name, std::string_view expectation, std::string_view value);
  std::string ChoiceList(const std::vector<std::string_view>& names) const;

  const Env& env_;
  std::vector<std::string> errors_;
};

template <typename T>
T ConfigReader::Enum(std::string_view name, std::initializer_list<std::pair<std::string_view, T>> choices,
                     T default_value) {
  std::optional<std::string> raw = Raw(name);
  if (!raw.has_value()) return default_value;
  std::vector<std::string_view> names;
  for (const auto& [choice, value] : choices) {
    if (*raw == choice) return value;
    names.push_back(choice);
  }
  AddMalformed(name, "must be one of " + ChoiceList(names), *raw);
  return default_value;
}

enum class AppEnv { kDev, kStaging, kProd };
std::string_view AppEnvName(AppEnv env);

// What differs between processes: their name (the "service" of every log line) and default ports.
// A port that is nullopt is not read at all (the process has no such listener).
struct ServiceDefaults {
  std::string name;
  std::optional<uint16_t> grpc_port;     // GRPC_PORT
  std::optional<uint16_t> http_port;     // HTTP_PORT
  std::optional<uint16_t> metrics_port;  // METRICS_PORT; nullopt: metrics are served on HTTP_PORT
};
ServiceDefaults IncidentDefaults();      // gRPC 50051, metrics 9101
ServiceDefaults NotificationDefaults();  // gRPC 50052, metrics 9102
ServiceDefaults TelephonyDefaults();     // gRPC 50053, metrics 9103
ServiceDefaults EdgeDefaults();          // HTTP 8080, metrics on the same port

// The settings every process shares (SPEC §10, README "Configuration").
struct ProcessConfig {
  std::string service;                   // ServiceDefaults::name
  AppEnv app_env = AppEnv::kDev;         // APP_ENV: dev (default), staging, prod
  std::string log_level = "info";        // LOG_LEVEL: debug, info (default), warn, error
  bool metrics_enabled = true;           // METRICS_ENABLED, default true
  std::optional<uint16_t> metrics_port;  // METRICS_PORT; nullopt when metrics share HTTP_PORT
  std::string admin_token;               // ADMIN_TOKEN: dev default "dev-admin-token"; required otherwise
  // DATABASE_URL as given (libs/pg normalises Python-style schemes); dev default
  // postgresql://127.0.0.1:5432/protectogram; required otherwise.
  std::string database_url;
  std::string database_direct_url;    // DATABASE_DIRECT_URL; "" when unset
  int db_pool_size = 4;               // DB_POOL_SIZE, 1..1000
  std::optional<uint16_t> grpc_port;  // GRPC_PORT when the process serves gRPC
  std::optional<uint16_t> http_port;  // HTTP_PORT when the process serves HTTP
  // BIND_ADDRESS: the IP address every listener of the process (gRPC, ops HTTP, the edge's HTTP) binds, as
  // an IPv4 or IPv6 literal without brackets. Default "0.0.0.0": IPv4 for the HTTP listeners (gRPC treats a
  // wildcard as "every address" and listens on IPv6 too). "::" binds IPv6 and, on Linux with the default
  // net.ipv6.bindv6only=0, IPv4 as well: Fly's private network (6PN, *.internal) is IPv6 only.
  std::string bind_address = "0.0.0.0";
  absl::Duration shutdown_grace = absl::Milliseconds(5000);  // SHUTDOWN_GRACE_MS, 0..600000
};

inline constexpr std::string_view kDevDatabaseUrl = "postgresql://127.0.0.1:5432/protectogram";
inline constexpr std::string_view kDevAdminToken = "dev-admin-token";

// Reads ProcessConfig. Returns INVALID_ARGUMENT naming every bad or missing setting (see ConfigReader).
// Registers ADMIN_TOKEN, and the passwords in the database URLs, as secrets. In staging and prod, ADMIN_TOKEN
// must not be a well-known placeholder ("dev-admin-token", "change-me").
absl::StatusOr<ProcessConfig> LoadProcessConfig(const Env& env, const ServiceDefaults& defaults);

// Registers as secrets the values of variables whose names contain TOKEN, SECRET, PASSWORD, PASSWD or KEY
// (values of 8+ characters that are not just digits: a guess by name must not blank "true" in every line),
// and the password of any value shaped like a URL with userinfo ("scheme://user:password@..."), so that a
// value a library reads on its own can never reach a log line either. ServiceHost calls it at start; settings
// read with ConfigReader's *Secret getters are registered whatever their length (from kMinSecretLength).
void RegisterSecretsFromEnv(const Env& env);

// The Telegram bots' variables (TELEGRAM_*, TG_*) as BotRegistry::FromEnv takes them; every token and
// webhook secret among them is registered as a secret, whatever its length. The edge and the notification
// service read their bots through it.
std::map<std::string, std::string> TelegramVariables(const Env& env);

// Prints "config error: <status message>" as one line on stderr and exits with code 2.
[[noreturn]] void ExitWithConfigError(const absl::Status& status);

// The value, or ExitWithConfigError.
template <typename T>
T ConfigOrExit(absl::StatusOr<T> config) {
  if (!config.ok()) ExitWithConfigError(config.status());
  return *std::move(config);
}

// The command line of every process: --help, --version and --check-config; nothing else.
//   --check-config  load and validate the whole configuration as at start-up (the same APP_ENV rules), connect
//                   to nothing and start nothing, then print "config ok" (exit 0); a config error prints the
//                   same "config error: ..." line as a real start (exit 2). ServiceHost implements it: Run()
//                   returns 0 after "config ok" instead of starting, so every check a main makes before Run()
//                   is part of it. The deployment check (tests/deploy) runs it with each deployment's env.
struct CommandLine {
  enum class Action { kRun, kExit };
  Action action = Action::kRun;
  int exit_code = 0;   // for kExit: 0 after --help/--version, 2 for anything else
  std::string output;  // for kExit: what to print (stdout when exit_code is 0, else stderr), ending in "\n"
  bool check_config = false;  // for kRun: --check-config was given
};
// `args` excludes argv[0]. `program` is the binary name for messages, e.g. "protectogram-incident". With
// `defaults`, --help also lists the process's ports and their defaults ("GRPC_PORT=50051 METRICS_PORT=9101"),
// which the deployment check reads instead of keeping a copy of them.
CommandLine ParseCommandLine(const std::vector<std::string_view>& args, std::string_view program,
                             const ServiceDefaults* defaults = nullptr);

// The project version ("0.1.0").
std::string_view Version();

}  // namespace protectogram::kernel
