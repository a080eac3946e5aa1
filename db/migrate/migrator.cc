#include "db/migrate/migrator.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"
#include "libs/pg/pool.h"
#include "libs/pg/query.h"

#ifndef PROTECTOGRAM_MIGRATIONS_DIR
#define PROTECTOGRAM_MIGRATIONS_DIR "/usr/share/protectogram/migrations"
#endif

namespace protectogram::migrate {
namespace {

namespace fs = std::filesystem;

constexpr pg::Query kLock{"migrate_lock", "SELECT pg_advisory_xact_lock($1::bigint)"};
constexpr pg::Query kCreateTable{"migrate_create_table",
                                 "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                                 " version integer PRIMARY KEY,"
                                 " name text NOT NULL,"
                                 " checksum text NOT NULL,"
                                 " applied_at timestamptz NOT NULL DEFAULT now())"};
constexpr pg::Query kTableExists{"migrate_table_exists",
                                 "SELECT to_regclass('public.schema_migrations') IS NOT NULL"};
constexpr pg::Query kSelectApplied{"migrate_select_applied",
                                   "SELECT version, name, checksum, applied_at FROM public.schema_migrations "
                                   "ORDER BY version"};
constexpr pg::Query kSelectOne{"migrate_select_one",
                               "SELECT checksum FROM public.schema_migrations WHERE version = $1::int"};
constexpr pg::Query kRecord{"migrate_record",
                            "INSERT INTO public.schema_migrations (version, name, checksum) "
                            "VALUES ($1::int, $2, $3)"};

struct Applied {
  std::string name;
  std::string checksum;
  absl::Time applied_at;
};

// NNNN_name.sql -> (version, name); false if the name does not follow the pattern.
bool ParseFilename(const std::string& filename, int* version, std::string* name) {
  const size_t underscore = filename.find('_');
  if (underscore == 0 || underscore == std::string::npos || filename.size() < 5 ||
      filename.compare(filename.size() - 4, 4, ".sql") != 0) {
    return false;
  }
  const std::string digits = filename.substr(0, underscore);
  const std::string rest = filename.substr(underscore + 1, filename.size() - 4 - underscore - 1);
  if (digits.size() > 9 || rest.empty()) return false;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  if (!std::all_of(rest.begin(), rest.end(),
                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; })) {
    return false;
  }
  *version = std::stoi(digits);
  *name = rest;
  return true;
}

absl::StatusOr<std::unique_ptr<pg::Pool>> Connect(std::string_view database_url) {
  pg::PoolOptions options;
  options.url = std::string(database_url);
  options.size = 1;
  options.statement_timeout = absl::ZeroDuration();  // a migration may legitimately take long
  options.application_name = "protectogram-migrate";
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create(std::move(options));
  if (!pool.ok()) return pool.status();
  // Fail now, with the connection error, rather than in the middle.
  if (absl::StatusOr<pg::Result> r = (*pool)->Execute(kTableExists); !r.ok()) return r.status();
  return pool;
}

absl::StatusOr<std::map<int, Applied>> ReadApplied(pg::Pool& pool) {
  absl::StatusOr<pg::Result> exists = pool.Execute(kTableExists);
  if (!exists.ok()) return exists.status();
  std::map<int, Applied> applied;
  if (!exists->front().Get<bool>(0)) return applied;
  absl::StatusOr<pg::Result> rows = pool.Execute(kSelectApplied);
  if (!rows.ok()) return rows.status();
  for (const pg::Row& row : *rows) {
    applied[row.Get<int32_t>(0)] =
        Applied{row.Get<std::string>(1), row.Get<std::string>(2), row.Get<absl::Time>(3)};
  }
  return applied;
}

absl::Status ChecksumChanged(const MigrationFile& file, const std::string& applied_checksum) {
  return absl::FailedPreconditionError(absl::StrCat(
      "migration ", file.filename, " was changed after it was applied (applied sha256 ", applied_checksum,
      ", file sha256 ", file.checksum, "); add a new migration instead of editing an applied one"));
}

absl::Status WithFile(const absl::Status& s, const MigrationFile& file) {
  return absl::Status(s.code(), absl::StrCat("migration ", file.filename, " failed: ", s.message()));
}

// Applies one migration unless another migrator already did. Returns true if this call applied it.
absl::StatusOr<bool> ApplyOne(pg::Pool& pool, const MigrationFile& file) {
  absl::StatusOr<pg::Transaction> txn = pool.Begin();
  if (!txn.ok()) return txn.status();
  if (auto r = txn->Execute(kLock, {kMigrationLockKey}); !r.ok()) return r.status();
  absl::StatusOr<pg::Result> existing = txn->Execute(kSelectOne, {file.version});
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    const std::string checksum = existing->front().Get<std::string>(0);
    if (checksum != file.checksum) return ChecksumChanged(file, checksum);
    return false;  // applied meanwhile by a concurrent migrator; the destructor rolls back
  }
  if (absl::Status s = txn->ExecuteScript(pg::Query{file.filename.c_str(), file.sql.c_str()}); !s.ok()) {
    return WithFile(s, file);
  }
  if (auto r = txn->Execute(kRecord, {file.version, file.name, file.checksum}); !r.ok())
    return WithFile(r.status(), file);
  if (absl::Status s = txn->Commit(); !s.ok()) return WithFile(s, file);
  return true;
}

}  // namespace

std::string CompiledMigrationsDir() { return PROTECTOGRAM_MIGRATIONS_DIR; }

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<std::vector<MigrationFile>> LoadMigrations(std::string_view dir) {
  std::error_code ec;
  const fs::path root(dir);
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat("migrations directory ", std::string(dir), " does not exist"));
  }
  std::vector<MigrationFile> files;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string filename = it->path().filename().string();
    if (filename.size() < 4 || filename.compare(filename.size() - 4, 4, ".sql") != 0) continue;
    MigrationFile file;
    if (!ParseFilename(filename, &file.version, &file.name)) {
      return absl::InvalidArgumentError(absl::StrCat("migration file name ", filename,
                                                     " does not match NNNN_name.sql (name in [a-z0-9_])"));
    }
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read migration ", it->path().string()));
    file.filename = filename;
    file.path = it->path().string();
    file.sql = content.str();
    file.checksum = Sha256Hex(file.sql);
    files.push_back(std::move(file));
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", std::string(dir), ": ", ec.message()));
  std::sort(files.begin(), files.end(), [](const MigrationFile& a, const MigrationFile& b) {
    return a.version != b.version ? a.version < b.version : a.filename < b.filename;
  });
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].version == files[i - 1].version) {
      return absl::AlreadyExistsError(absl::StrCat("duplicate migration version ", files[i].version, ": ",
                                                   files[i - 1].filename, " and ", files[i].filename));
    }
  }
  return files;
}

absl::StatusOr<std::vector<MigrationFile>> MigrateUp(std::string_view database_url, std::string_view dir) {
  absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(dir);
  if (!files.ok()) return files.status();
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = Connect(database_url);
  if (!pool.ok()) return pool.status();

  absl::StatusOr<std::map<int, Applied>> applied = ReadApplied(**pool);
  if (!applied.ok()) return applied.status();
  // Refuse edited migrations before running anything.
  for (const MigrationFile& file : *files) {
    auto it = applied->find(file.version);
    if (it != applied->end() && it->second.checksum != file.checksum)
      return ChecksumChanged(file, it->second.checksum);
  }
  // The bookkeeping table, created under the lock so that two first runs do not race.
  {
    absl::StatusOr<pg::Transaction> txn = (*pool)->Begin();
    if (!txn.ok()) return txn.status();
    if (auto r = txn->Execute(kLock, {kMigrationLockKey}); !r.ok()) return r.status();
    if (auto r = txn->Execute(kCreateTable); !r.ok()) return r.status();
    if (absl::Status s = txn->Commit(); !s.ok()) return s;
  }
  for (const auto& [version, row] : *applied) {
    const bool known = std::any_of(files->begin(), files->end(),
                                   [v = version](const MigrationFile& f) { return f.version == v; });
    if (!known) {
      kernel::LogWarn("applied migration has no file in the directory",
                      {{"version", version}, {"name", row.name}, {"dir", std::string(dir)}});
    }
  }
  std::vector<MigrationFile> done;
  for (const MigrationFile& file : *files) {
    if (applied->count(file.version)) continue;
    const absl::Time start = absl::Now();
    absl::StatusOr<bool> ran = ApplyOne(**pool, file);
    if (!ran.ok()) return ran.status();
    if (*ran) {
      kernel::LogInfo("migration applied", {{"version", file.version},
                                            {"file", file.filename},
                                            {"ms", absl::ToInt64Milliseconds(absl::Now() - start)}});
      done.push_back(file);
    } else {
      kernel::LogInfo("migration already applied by another migrator", {{"file", file.filename}});
    }
  }
  return done;
}

absl::StatusOr<std::vector<MigrationState>> MigrationStatus(std::string_view database_url,
                                                            std::string_view dir) {
  absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(dir);
  if (!files.ok()) return files.status();
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = Connect(database_url);
  if (!pool.ok()) return pool.status();
  absl::StatusOr<std::map<int, Applied>> applied = ReadApplied(**pool);
  if (!applied.ok()) return applied.status();
  std::map<int, MigrationState> states;
  for (const MigrationFile& file : *files) {
    MigrationState& s = states[file.version];
    s.version = file.version;
    s.filename = file.filename;
    if (auto it = applied->find(file.version); it != applied->end()) {
      s.applied = true;
      s.applied_at = it->second.applied_at;
      s.checksum_changed = it->second.checksum != file.checksum;
    }
  }
  for (const auto& [version, row] : *applied) {
    if (states.count(version)) continue;
    MigrationState& s = states[version];
    s.version = version;
    s.applied = true;
    s.applied_at = row.applied_at;
  }
  std::vector<MigrationState> out;
  for (auto& [version, s] : states) out.push_back(std::move(s));
  return out;
}

}  // namespace protectogram::migrate
