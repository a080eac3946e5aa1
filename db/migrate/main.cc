// protectogram-migrate: applies db/migrations (see db/migrate/cli.h for flags and exit codes).
//
// --check-config (anywhere on the command line, like every Protectogram binary's): resolves what `up` or
// `status` would use, the database URL (and checks its syntax) and the migrations directory (and reads its
// files), without connecting; prints "config ok" (exit 0), or the line the command would print (exit 2).
// The deployment check (tests/deploy) runs `protectogram-migrate up --check-config` with the migration
// job's environment.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "db/migrate/cli.h"
#include "db/migrate/migrator.h"
#include "libs/kernel/log.h"
#include "libs/pg/url.h"

namespace {

using namespace protectogram::migrate;

std::string Getenv(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  return std::string(v != nullptr ? v : "");
}

// RunCli's usage (cli.cc) and the flag this file adds to it.
int Help(const std::string& arg) {
  const int code = RunCli({arg}, Getenv, std::cout, std::cerr);
  std::cout << "  --check-config      check what the command would use (database URL, migrations) without\n"
               "                      connecting: \"config ok\" (exit 0) or the error (exit 2)\n";
  return code;
}

int CheckFailed(const std::string& line, int code) {
  std::cerr << "protectogram-migrate: " << line << "\n";
  return code;
}

// The flags and the resolution of RunCli (cli.cc) up to, not including, the first connection.
int CheckConfig(const std::vector<std::string>& args) {
  UrlInputs url_inputs;
  std::string dir_flag;
  bool has_command = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return Help(arg);
    if (arg.rfind("--", 0) == 0) {
      const size_t eq = arg.find('=');
      const std::string name = arg.substr(0, eq);
      std::string* target = name == "--database-url" ? &url_inputs.flag
                            : name == "--dir"        ? &dir_flag
                            : name == "--config"     ? &url_inputs.config_path
                                                     : nullptr;
      if (target == nullptr) return CheckFailed(absl::StrCat("unknown flag '", name, "'"), kExitUsage);
      std::string value;
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return CheckFailed(absl::StrCat("flag ", name, " needs a value"), kExitUsage);
      }
      if (value.empty())
        return CheckFailed(absl::StrCat("flag ", name, " needs a non-empty value"), kExitUsage);
      *target = value;
      continue;
    }
    if (arg.rfind("-", 0) == 0) return CheckFailed(absl::StrCat("unknown flag '", arg, "'"), kExitUsage);
    if (has_command) return CheckFailed(absl::StrCat("unexpected argument '", arg, "'"), kExitUsage);
    if (arg != "up" && arg != "status")
      return CheckFailed(absl::StrCat("unknown command '", arg, "'"), kExitUsage);
    has_command = true;  // without one, what `up` would use is checked
  }

  url_inputs.migrations_env = Getenv("MIGRATIONS_DATABASE_URL");
  url_inputs.database_env = Getenv("DATABASE_URL");
  absl::StatusOr<Resolved> url = ResolveDatabaseUrl(url_inputs);
  if (!url.ok()) return CheckFailed(std::string(url.status().message()), kExitUsage);
  if (absl::StatusOr<std::string> normalized = protectogram::pg::NormalizeDatabaseUrl(url->value);
      !normalized.ok()) {
    return CheckFailed(absl::StrCat(url->source, ": ", normalized.status().message()), kExitUsage);
  }
  const Resolved dir = ResolveMigrationsDir(dir_flag, Getenv("MIGRATIONS_DIR"), CompiledMigrationsDir());
  if (absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(dir.value); !files.ok()) {
    return CheckFailed(std::string(files.status().message()), kExitUsage);
  }
  std::cout << "config ok\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const auto kept = std::remove(args.begin(), args.end(), std::string("--check-config"));
  if (kept != args.end()) {
    args.erase(kept, args.end());
    // Only errors may join the one "config ok" line on stdout.
    protectogram::kernel::InitLogging("migrate", "error");
    return CheckConfig(args);
  }
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h")
      return Help(arg);  // RunCli would answer it the same, without the flag
  }
  const std::string level = Getenv("LOG_LEVEL");
  protectogram::kernel::InitLogging("migrate", level.empty() ? "info" : level);
  return RunCli(args, Getenv, std::cout, std::cerr);
}
