#include "db/migrate/cli.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "db/migrate/migrator.h"
#include "libs/kernel/log.h"
#include "libs/pg/url.h"

namespace protectogram::migrate {
namespace {

constexpr char kUsage[] =
    "usage: protectogram-migrate <command> [flags]\n"
    "commands:\n"
    "  up       apply every pending migration, in order\n"
    "  status   list applied and pending migrations\n"
    "flags:\n"
    "  --database-url URL  database to migrate (else $MIGRATIONS_DATABASE_URL, $DATABASE_URL, config file)\n"
    "  --dir DIR           migrations directory (else $MIGRATIONS_DIR, the built-in default)\n"
    "  --config FILE       config file with `database_url = ...` (default db/migrate.conf, if present)\n"
    "  --help              this text\n"
    "exit codes: 0 ok, 1 migration or database error, 2 usage or configuration error\n";

std::string StripQuotes(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

int UsageError(std::ostream& err, const std::string& line) {
  err << "protectogram-migrate: " << line << "\n" << kUsage;
  return kExitUsage;
}

int Fail(std::ostream& err, int code, const absl::Status& status) {
  const std::string message(status.message());
  kernel::LogError("migrate failed", {{"error", message}, {"code", absl::StatusCodeToString(status.code())}});
  err << "protectogram-migrate: " << message << "\n";
  return code;
}

}  // namespace

absl::StatusOr<std::string> ReadConfigDatabaseUrl(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::string line;
  std::string url;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::StripAsciiWhitespace(&line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": expected `key = value`"));
    }
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    absl::StripAsciiWhitespace(&key);
    absl::StripAsciiWhitespace(&value);
    if (key != "database_url") {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": unknown key '", key, "'"));
    }
    url = StripQuotes(value);
  }
  return url;
}

absl::StatusOr<Resolved> ResolveDatabaseUrl(const UrlInputs& in) {
  std::string config_url;
  std::string config_path = in.config_path;
  const bool explicit_config = !config_path.empty();
  if (!explicit_config) config_path = kDefaultConfigPath;
  const bool need_config = in.flag.empty() && in.migrations_env.empty() && in.database_env.empty();
  if (explicit_config || (need_config && std::filesystem::exists(config_path))) {
    absl::StatusOr<std::string> url = ReadConfigDatabaseUrl(config_path);
    if (!url.ok()) return url.status();
    config_url = *url;
  }
  if (!in.flag.empty()) return Resolved{in.flag, "--database-url"};
  if (!in.migrations_env.empty()) return Resolved{in.migrations_env, "MIGRATIONS_DATABASE_URL"};
  if (!in.database_env.empty()) return Resolved{in.database_env, "DATABASE_URL"};
  if (!config_url.empty()) return Resolved{config_url, absl::StrCat("config file ", config_path)};
  return absl::InvalidArgumentError(
      "no database URL: pass --database-url, set MIGRATIONS_DATABASE_URL or DATABASE_URL, or put "
      "`database_url = ...` in db/migrate.conf");
}

Resolved ResolveMigrationsDir(const std::string& flag, const std::string& env,
                              const std::string& compiled_in) {
  if (!flag.empty()) return {flag, "--dir"};
  if (!env.empty()) return {env, "MIGRATIONS_DIR"};
  std::error_code ec;
  if (!compiled_in.empty() && std::filesystem::is_directory(compiled_in, ec))
    return {compiled_in, "built-in"};
  return {kInstalledMigrationsDir, "installed"};
}

int RunCli(const std::vector<std::string>& args, const std::function<std::string(std::string_view)>& env,
           std::ostream& out, std::ostream& err) {
  std::string command;
  UrlInputs url_inputs;
  std::string dir_flag;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return kExitOk;
    }
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg;
      std::string value;
      bool has_value = false;
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        has_value = true;
      }
      std::string* target = name == "--database-url" ? &url_inputs.flag
                            : name == "--dir"        ? &dir_flag
                            : name == "--config"     ? &url_inputs.config_path
                                                     : nullptr;
      if (target == nullptr) return UsageError(err, absl::StrCat("unknown flag '", name, "'"));
      if (!has_value) {
        if (i + 1 >= args.size()) return UsageError(err, absl::StrCat("flag ", name, " needs a value"));
        value = args[++i];
      }
      if (value.empty()) return UsageError(err, absl::StrCat("flag ", name, " needs a non-empty value"));
      *target = value;
      continue;
    }
    if (arg.rfind("-", 0) == 0) return UsageError(err, absl::StrCat("unknown flag '", arg, "'"));
    if (!command.empty()) return UsageError(err, absl::StrCat("unexpected argument '", arg, "'"));
    if (arg != "up" && arg != "status") return UsageError(err, absl::StrCat("unknown command '", arg, "'"));
    command = arg;
  }
  if (command.empty()) return UsageError(err, "missing command (up or status)");

  url_inputs.migrations_env = env("MIGRATIONS_DATABASE_URL");
  url_inputs.database_env = env("DATABASE_URL");
  absl::StatusOr<Resolved> url = ResolveDatabaseUrl(url_inputs);
  if (!url.ok()) return Fail(err, kExitUsage, url.status());
  if (absl::StatusOr<std::string> normalized = pg::NormalizeDatabaseUrl(url->value); !normalized.ok()) {
    return Fail(err, kExitUsage,
                absl::Status(normalized.status().code(),
                             absl::StrCat(url->source, ": ", normalized.status().message())));
  }
  const Resolved dir = ResolveMigrationsDir(dir_flag, env("MIGRATIONS_DIR"), CompiledMigrationsDir());
  kernel::LogInfo("migrate starting", {{"command", command},
                                       {"database", pg::RedactDatabaseUrl(url->value)},
                                       {"database_source", url->source},
                                       {"dir", dir.value},
                                       {"dir_source", dir.source}});
  if (absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(dir.value); !files.ok()) {
    return Fail(err, files.status().code() == absl::StatusCode::kNotFound ? kExitUsage : kExitFailure,
                files.status());
  }

  if (command == "up") {
    absl::StatusOr<std::vector<MigrationFile>> applied = MigrateUp(url->value, dir.value);
    if (!applied.ok()) return Fail(err, kExitFailure, applied.status());
    kernel::LogInfo("migrations up to date", {{"applied", static_cast<int>(applied->size())}});
    return kExitOk;
  }

  absl::StatusOr<std::vector<MigrationState>> states = MigrationStatus(url->value, dir.value);
  if (!states.ok()) return Fail(err, kExitFailure, states.status());
  bool changed = false;
  out << absl::StrFormat("%-8s %-9s %-24s %s\n", "version", "state", "applied_at", "file");
  for (const MigrationState& s : *states) {
    std::string state = s.applied ? "applied" : "pending";
    if (s.checksum_changed) state = "CHANGED";
    if (s.filename.empty()) state = "applied";
    changed = changed || s.checksum_changed;
    const std::string at =
        s.applied ? absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", s.applied_at, absl::UTCTimeZone()) : "-";
    out << absl::StrFormat("%04d     %-9s %-24s %s\n", s.version, state, at,
                           s.filename.empty() ? "(no file)" : s.filename);
  }
  if (changed) {
    return Fail(err, kExitFailure,
                absl::FailedPreconditionError("an applied migration was changed (CHANGED above)"));
  }
  return kExitOk;
}

}  // namespace protectogram::migrate
