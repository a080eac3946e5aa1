// Applies db/migrations/NNNN_name.sql to a database and reports what is applied. Used by the
// protectogram-migrate binary and, in-process, by the test harness.
//
// Rules (docs/database.md):
//  - A migration is a file NNNN_name.sql (digits, underscore, [a-z0-9_]+, ".sql"); version = NNNN as an int.
//    Other files in the directory are ignored. Two files with one version are refused.
//  - Each migration runs in its own transaction holding pg_advisory_xact_lock(kMigrationLockKey) —
//    transaction scoped, so it works through a transaction-mode pooler — and re-reads the applied set under
//    the lock, so concurrent migrators apply each migration exactly once. So a file must not contain
//    BEGIN/COMMIT or statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
//  - Applied migrations are recorded in public.schema_migrations(version, name, checksum, applied_at);
//    checksum = sha256 hex of the file. Editing an applied file is refused before anything runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::migrate {

inline constexpr int64_t kMigrationLockKey = 0x70726f7465637401;  // "protect" + 01

struct MigrationFile {
  int version = 0;
  std::string name;      // "roles_and_schemas"
  std::string filename;  // "0001_roles_and_schemas.sql"
  std::string path;
  std::string sql;
  std::string checksum;  // sha256 hex of the file's bytes
};

// The migrations in `dir`, ordered by version.
// NOT_FOUND if `dir` is not a readable directory; INVALID_ARGUMENT for a *.sql file whose name does not
// follow the pattern; ALREADY_EXISTS naming both files when two share a version.
absl::StatusOr<std::vector<MigrationFile>> LoadMigrations(std::string_view dir);

// Applies every pending migration in `dir` to the database at `database_url` (any form
// pg::NormalizeDatabaseUrl accepts), in version order. Returns the migrations this call applied (empty when
// up to date). Errors: those of LoadMigrations; FAILED_PRECONDITION naming the file when an applied
// migration's checksum changed (nothing is run then); UNAVAILABLE when Postgres is unreachable (within the
// connect timeout); the SQLSTATE-mapped error of a failing migration, with its file name in the message (that
// migration is rolled back; earlier ones stay applied).
absl::StatusOr<std::vector<MigrationFile>> MigrateUp(std::string_view database_url, std::string_view dir);

struct MigrationState {
  int version = 0;
  std::string filename;  // empty if the applied version has no file in `dir` any more
  bool applied = false;
  absl::Time applied_at = absl::InfinitePast();
  bool checksum_changed = false;  // applied, but the file differs from what was applied
};

// Every migration known from `dir` or the database, ordered by version. Does not modify the database.
// Errors as MigrateUp, minus the checksum refusal (reported per migration instead).
absl::StatusOr<std::vector<MigrationState>> MigrationStatus(std::string_view database_url,
                                                            std::string_view dir);

// The migrations directory compiled in (${PROJECT_SOURCE_DIR}/db/migrations).
std::string CompiledMigrationsDir();

// Lowercase hex SHA-256 (OpenSSL EVP).
std::string Sha256Hex(std::string_view data);

}  // namespace protectogram::migrate
