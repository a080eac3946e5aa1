// The protectogram-migrate command line:
//   protectogram-migrate <up|status> [--database-url URL] [--dir DIR] [--config FILE]
//   protectogram-migrate --help
// Database URL, first that is set and non-empty: --database-url, $MIGRATIONS_DATABASE_URL, $DATABASE_URL,
// `database_url = ...` in the config file (--config FILE, else db/migrate.conf if it exists; fallback only).
// Migrations directory: --dir, $MIGRATIONS_DIR, the compiled-in source tree's db/migrations if it exists,
// /usr/share/protectogram/migrations.
// Exit codes: 0 ok; 1 migration or database error (unreachable, failing SQL, edited or duplicate migration,
// `status` finding an edited migration); 2 usage or configuration error (unknown flag or command, no URL,
// unreadable config file, missing migrations directory).
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace protectogram::migrate {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

inline constexpr char kDefaultConfigPath[] = "db/migrate.conf";
inline constexpr char kInstalledMigrationsDir[] = "/usr/share/protectogram/migrations";

// A resolved setting and where it came from ("--database-url", "MIGRATIONS_DATABASE_URL", "DATABASE_URL",
// "config file db/migrate.conf", ...), for the log line.
struct Resolved {
  std::string value;
  std::string source;
};

struct UrlInputs {
  std::string flag;            // --database-url ("" if not given)
  std::string migrations_env;  // $MIGRATIONS_DATABASE_URL
  std::string database_env;    // $DATABASE_URL
  std::string config_path;     // --config FILE ("" if not given: db/migrate.conf is tried)
};

// The config file's `database_url` ("" if the file sets none). Lines are `key = value` (value optionally in
// double or single quotes), blank, or `#` comments. NOT_FOUND if it cannot be read; INVALID_ARGUMENT naming
// the line for anything else, including unknown keys.
absl::StatusOr<std::string> ReadConfigDatabaseUrl(const std::string& path);

// Applies the precedence above. The config file is read only when nothing else gives a URL, except that an
// explicit --config FILE must be readable in any case. INVALID_ARGUMENT if no source gives a URL; the errors
// of ReadConfigDatabaseUrl.
absl::StatusOr<Resolved> ResolveDatabaseUrl(const UrlInputs& inputs);

// Applies the directory precedence above (existence is checked for the compiled-in directory only).
Resolved ResolveMigrationsDir(const std::string& flag, const std::string& env,
                              const std::string& compiled_in);

// The whole program; `env` returns "" for an unset variable. Human output (status table, usage) goes to `out`
// and `err`; log lines go through protectogram_log.
int RunCli(const std::vector<std::string>& args, const std::function<std::string(std::string_view)>& env,
           std::ostream& out, std::ostream& err);

}  // namespace protectogram::migrate
