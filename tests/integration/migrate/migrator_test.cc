// The migrator library (db/migrate/migrator.h) against the harness's Postgres.
#include "db/migrate/migrator.h"

#include <gtest/gtest.h>

#include "libs/pg/pool.h"
#include "tests/integration/migrate/migrate_test_util.h"

namespace protectogram::migrate {
namespace {

using testutil::MigrateTest;
using testutil::TempDir;
using testutil::WriteFile;

int64_t CountApplied(const std::string& url) {
  auto pool = pg::Pool::Create({.url = url, .size = 1});
  auto r =
      (*pool)->Execute({"count", "SELECT count(*), count(DISTINCT version) FROM public.schema_migrations"});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return -1;
  EXPECT_EQ(r->front().Get<int64_t>(0), r->front().Get<int64_t>(1));
  return r->front().Get<int64_t>(0);
}

TEST(LoadMigrations, OrdersByVersionAndIgnoresOtherFiles) {
  TempDir dir;
  WriteFile(dir.File("0010_later.sql"), "SELECT 1;");
  WriteFile(dir.File("0002_second.sql"), "SELECT 2;");
  WriteFile(dir.File("README.md"), "not a migration");
  absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(dir.path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].version, 2);
  EXPECT_EQ((*files)[0].name, "second");
  EXPECT_EQ((*files)[1].version, 10);
  EXPECT_EQ((*files)[1].filename, "0010_later.sql");
  EXPECT_EQ((*files)[0].checksum, Sha256Hex("SELECT 2;"));
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(LoadMigrations, RefusesDuplicateVersionsNamingBothFiles) {
  TempDir dir;
  WriteFile(dir.File("0001_a.sql"), "SELECT 1;");
  WriteFile(dir.File("0002_b.sql"), "SELECT 1;");
  WriteFile(dir.File("002_c.sql"), "SELECT 1;");
  absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(dir.path());
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(files.status().message().find("0002_b.sql"), absl::string_view::npos) << files.status();
  EXPECT_NE(files.status().message().find("002_c.sql"), absl::string_view::npos) << files.status();
}

TEST(LoadMigrations, RefusesBadNamesAndMissingDirectory) {
  TempDir dir;
  WriteFile(dir.File("0001_Bad-Name.sql"), "SELECT 1;");
  EXPECT_EQ(LoadMigrations(dir.path()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadMigrations(dir.File("nope")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(MigrateTest, AppliesEverythingOnceAndReportsStatus) {
  const std::string url = EmptyDatabase();
  absl::StatusOr<std::vector<MigrationFile>> first = MigrateUp(url, CompiledMigrationsDir());
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::vector<MigrationFile>> all = LoadMigrations(CompiledMigrationsDir());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(first->size(), all->size());
  EXPECT_EQ(CountApplied(url), static_cast<int64_t>(all->size()));
  absl::StatusOr<std::vector<MigrationFile>> second = MigrateUp(url, CompiledMigrationsDir());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->empty());
  absl::StatusOr<std::vector<MigrationState>> status = MigrationStatus(url, CompiledMigrationsDir());
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->size(), all->size());
  for (const MigrationState& s : *status) {
    EXPECT_TRUE(s.applied) << s.filename;
    EXPECT_FALSE(s.checksum_changed) << s.filename;
  }
}

TEST_F(MigrateTest, StatusOfAnUntouchedDatabaseListsEverythingPendingWithoutCreatingAnything) {
  const std::string url = EmptyDatabase();
  absl::StatusOr<std::vector<MigrationState>> status = MigrationStatus(url, CompiledMigrationsDir());
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_FALSE(status->empty());
  for (const MigrationState& s : *status) EXPECT_FALSE(s.applied);
  auto pool = pg::Pool::Create({.url = url, .size = 1});
  auto r = (*pool)->Execute({"exists", "SELECT to_regclass('public.schema_migrations') IS NULL"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->front().Get<bool>(0));
}

TEST_F(MigrateTest, EditedAppliedMigrationIsRefusedBeforeAnythingRuns) {
  TempDir dir;
  WriteFile(dir.File("0001_a.sql"), "CREATE TABLE a (id int);");
  const std::string url = EmptyDatabase();
  ASSERT_TRUE(MigrateUp(url, dir.path()).ok());
  WriteFile(dir.File("0001_a.sql"), "CREATE TABLE a (id bigint);");
  WriteFile(dir.File("0002_b.sql"), "CREATE TABLE b (id int);");
  absl::StatusOr<std::vector<MigrationFile>> again = MigrateUp(url, dir.path());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("0001_a.sql"), absl::string_view::npos) << again.status();
  // 0002 did not run.
  auto pool = pg::Pool::Create({.url = url, .size = 1});
  auto r = (*pool)->Execute({"b", "SELECT to_regclass('public.b') IS NULL"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->front().Get<bool>(0));
  absl::StatusOr<std::vector<MigrationState>> status = MigrationStatus(url, dir.path());
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 2u);
  EXPECT_TRUE((*status)[0].checksum_changed);
  EXPECT_FALSE((*status)[1].applied);
}

TEST_F(MigrateTest, FailingMigrationIsRolledBackAndNamed) {
  TempDir dir;
  WriteFile(dir.File("0001_ok.sql"), "CREATE TABLE ok (id int);");
  WriteFile(dir.File("0002_broken.sql"), "CREATE TABLE half (id int);\nCREATE TABLE broken (id nosuchtype);");
  const std::string url = EmptyDatabase();
  absl::StatusOr<std::vector<MigrationFile>> r = MigrateUp(url, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("0002_broken.sql"), absl::string_view::npos) << r.status();
  EXPECT_EQ(CountApplied(url), 1);
  auto pool = pg::Pool::Create({.url = url, .size = 1});
  auto half = (*pool)->Execute(
      {"half", "SELECT to_regclass('public.half') IS NULL, to_regclass('public.ok') IS NULL"});
  ASSERT_TRUE(half.ok());
  EXPECT_TRUE(half->front().Get<bool>(0));   // the failed file left nothing behind
  EXPECT_FALSE(half->front().Get<bool>(1));  // the earlier one stays
}

TEST_F(MigrateTest, UnreachableDatabaseIsUnavailable) {
  absl::StatusOr<std::vector<MigrationFile>> r =
      MigrateUp("postgresql://postgres@127.0.0.1:1/x", CompiledMigrationsDir());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

}  // namespace
}  // namespace protectogram::migrate
