// protectogram-migrate: URL and directory precedence (the resolution functions and the real binary), exit
// codes, concurrent runs.
#include "db/migrate/cli.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "libs/pg/pool.h"
#include "tests/integration/migrate/migrate_test_util.h"

namespace protectogram::migrate {
namespace {

using testutil::Child;
using testutil::CountOccurrences;
using testutil::MigrateTest;
using testutil::RunResult;
using testutil::TempDir;
using testutil::WriteFile;

constexpr char kDeadUrl[] = "postgresql://postgres@127.0.0.1:1/nowhere";

// How many migrations the source tree has.
int MigrationCount() {
  absl::StatusOr<std::vector<MigrationFile>> files = LoadMigrations(CompiledMigrationsDir());
  EXPECT_TRUE(files.ok()) << files.status();
  return files.ok() ? static_cast<int>(files->size()) : -1;
}

// ---- resolution functions
// -------------------------------------------------------------------------------------

TEST(ResolveDatabaseUrl, FlagThenMigrationsEnvThenDatabaseEnvThenConfig) {
  TempDir dir;
  const std::string conf = dir.File("migrate.conf");
  WriteFile(conf, "# fallback only\n\ndatabase_url = \"postgresql://conf/db\"\n");
  UrlInputs in{.flag = "postgresql://flag/db",
               .migrations_env = "postgresql://menv/db",
               .database_env = "postgresql://denv/db",
               .config_path = conf};
  absl::StatusOr<Resolved> r = ResolveDatabaseUrl(in);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value, "postgresql://flag/db");
  EXPECT_EQ(r->source, "--database-url");
  in.flag = "";
  EXPECT_EQ(ResolveDatabaseUrl(in)->value, "postgresql://menv/db");
  EXPECT_EQ(ResolveDatabaseUrl(in)->source, "MIGRATIONS_DATABASE_URL");
  in.migrations_env = "";
  EXPECT_EQ(ResolveDatabaseUrl(in)->value, "postgresql://denv/db");
  EXPECT_EQ(ResolveDatabaseUrl(in)->source, "DATABASE_URL");
  in.database_env = "";
  EXPECT_EQ(ResolveDatabaseUrl(in)->value, "postgresql://conf/db");
  EXPECT_EQ(ResolveDatabaseUrl(in)->source, "config file " + conf);
  WriteFile(conf, "# nothing set\n");
  EXPECT_EQ(ResolveDatabaseUrl(in).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResolveDatabaseUrl, ConfigFileErrors) {
  TempDir dir;
  UrlInputs in{.config_path = dir.File("missing.conf")};
  EXPECT_EQ(ResolveDatabaseUrl(in).status().code(), absl::StatusCode::kNotFound);
  // An explicit config file must be readable even when a higher source gives the URL.
  in.flag = "postgresql://flag/db";
  EXPECT_EQ(ResolveDatabaseUrl(in).status().code(), absl::StatusCode::kNotFound);
  WriteFile(dir.File("typo.conf"), "databse_url = postgresql://x/y\n");
  absl::StatusOr<std::string> typo = ReadConfigDatabaseUrl(dir.File("typo.conf"));
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typo.status().message().find(":1:"), absl::string_view::npos) << typo.status();
  WriteFile(dir.File("noeq.conf"), "\n\npostgresql://x/y\n");
  EXPECT_NE(ReadConfigDatabaseUrl(dir.File("noeq.conf")).status().message().find(":3:"),
            absl::string_view::npos);
  WriteFile(dir.File("quoted.conf"), "  database_url='postgresql://q/db'  \n");
  EXPECT_EQ(*ReadConfigDatabaseUrl(dir.File("quoted.conf")), "postgresql://q/db");
}

TEST(ResolveDatabaseUrl, DefaultConfigFileIsDbMigrateConfInTheWorkingDirectory) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("db"));
  WriteFile(dir.File("db/migrate.conf"), "database_url = postgresql://default-conf/db\n");
  const std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  absl::StatusOr<Resolved> fallback = ResolveDatabaseUrl({});
  absl::StatusOr<Resolved> env_wins = ResolveDatabaseUrl({.database_env = "postgresql://env/db"});
  std::filesystem::current_path(previous);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->value, "postgresql://default-conf/db");
  ASSERT_TRUE(env_wins.ok());
  EXPECT_EQ(env_wins->value, "postgresql://env/db");
}

TEST(ResolveMigrationsDir, FlagThenEnvThenCompiledInThenInstalled) {
  TempDir dir;
  EXPECT_EQ(ResolveMigrationsDir("/f", "/e", dir.path()).value, "/f");
  EXPECT_EQ(ResolveMigrationsDir("", "/e", dir.path()).value, "/e");
  EXPECT_EQ(ResolveMigrationsDir("", "", dir.path()).value, dir.path());
  EXPECT_EQ(ResolveMigrationsDir("", "", dir.File("gone")).value, kInstalledMigrationsDir);
}

// ---- the binary
// -----------------------------------------------------------------------------------------------

TEST_F(MigrateTest, BinaryAppliesAndReportsStatus) {
  const std::string url = EmptyDatabase();
  RunResult up = RunMigrate({"up", "--database-url", url});
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  EXPECT_EQ(CountOccurrences(up.out, "\"msg\":\"migration applied\""), MigrationCount()) << up.out;
  EXPECT_NE(up.out.find("\"service\":\"migrate\""), std::string::npos) << up.out;
  RunResult status = RunMigrate({"status", "--database-url=" + url});
  ASSERT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_EQ(CountOccurrences(status.out, " applied "), MigrationCount()) << status.out;
  EXPECT_NE(status.out.find("0003_incident.sql"), std::string::npos) << status.out;
  RunResult again = RunMigrate({"up", "--database-url", url});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(CountOccurrences(again.out, "\"msg\":\"migration applied\""), 0);
}

TEST_F(MigrateTest, BinaryUrlPrecedence) {
  const std::string url = EmptyDatabase();
  // Each case puts the good URL at one level and a dead one at every lower level: only the precedence makes
  // it succeed. Then the reverse: a dead URL above a good one must fail.
  EXPECT_EQ(RunMigrate({"status", "--database-url", url}, {"MIGRATIONS_DATABASE_URL=" + std::string(kDeadUrl),
                                                           "DATABASE_URL=" + std::string(kDeadUrl)})
                .exit_code,
            0);
  EXPECT_EQ(
      RunMigrate({"status"}, {"MIGRATIONS_DATABASE_URL=" + url, "DATABASE_URL=" + std::string(kDeadUrl)})
          .exit_code,
      0);
  EXPECT_EQ(RunMigrate({"status"}, {"DATABASE_URL=" + url}).exit_code, 0);
  TempDir cwd;
  std::filesystem::create_directories(cwd.File("db"));
  WriteFile(cwd.File("db/migrate.conf"), "database_url = " + url + "\n");
  EXPECT_EQ(RunMigrate({"status"}, {}, cwd.path()).exit_code, 0);
  WriteFile(cwd.File("other.conf"), "database_url = " + url + "\n");
  EXPECT_EQ(RunMigrate({"status", "--config", cwd.File("other.conf")}).exit_code, 0);
  // Empty variables count as unset.
  EXPECT_EQ(RunMigrate({"status"}, {"MIGRATIONS_DATABASE_URL=", "DATABASE_URL=" + url}).exit_code, 0);

  RunResult flag_dead =
      RunMigrate({"status", "--database-url", kDeadUrl}, {"MIGRATIONS_DATABASE_URL=" + url});
  EXPECT_EQ(flag_dead.exit_code, 1) << flag_dead.err;
  EXPECT_EQ(
      RunMigrate({"status"}, {"MIGRATIONS_DATABASE_URL=" + std::string(kDeadUrl), "DATABASE_URL=" + url})
          .exit_code,
      1);
  EXPECT_EQ(RunMigrate({"status"}, {"DATABASE_URL=" + std::string(kDeadUrl)}, cwd.path()).exit_code, 1);
  // Python-style URLs work as they are.
  std::string asyncpg = url;
  asyncpg.replace(0, std::string("postgresql").size(), "postgresql+asyncpg");
  EXPECT_EQ(RunMigrate({"status", "--database-url", asyncpg}).exit_code, 0);
}

TEST_F(MigrateTest, BinaryUsageErrorsExitTwoWithOneClearLine) {
  RunResult unknown_flag = RunMigrate({"up", "--bogus"});
  EXPECT_EQ(unknown_flag.exit_code, 2);
  EXPECT_EQ(unknown_flag.err.substr(0, unknown_flag.err.find('\n')),
            "protectogram-migrate: unknown flag '--bogus'");
  EXPECT_NE(unknown_flag.err.find("usage: protectogram-migrate"), std::string::npos);
  RunResult unknown_command = RunMigrate({"down"});
  EXPECT_EQ(unknown_command.exit_code, 2);
  EXPECT_EQ(unknown_command.err.substr(0, unknown_command.err.find('\n')),
            "protectogram-migrate: unknown command 'down'");
  EXPECT_EQ(RunMigrate({}).exit_code, 2);
  EXPECT_EQ(RunMigrate({"up", "--dir"}).exit_code, 2);
  RunResult no_url = RunMigrate({"up"});
  EXPECT_EQ(no_url.exit_code, 2);
  EXPECT_NE(no_url.err.find("no database URL"), std::string::npos) << no_url.err;
  EXPECT_EQ(RunMigrate({"up", "--config", "/nonexistent/migrate.conf"}).exit_code, 2);
  EXPECT_EQ(RunMigrate({"up", "--database-url", "mysql://x/y"}).exit_code, 2);
  EXPECT_EQ(RunMigrate({"up", "--database-url", db_url(), "--dir", "/nonexistent"}).exit_code, 2);
  RunResult help = RunMigrate({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: protectogram-migrate"), std::string::npos);
}

// A TCP server that accepts and never answers: Postgres hung or a black-holed pooler.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_F(MigrateTest, BinaryUnreachableDatabaseExitsOneWithoutHanging) {
  RunResult refused = RunMigrate({"up", "--database-url", kDeadUrl});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(CountOccurrences(refused.err, "\n"), 1) << refused.err;  // one line
  EXPECT_NE(refused.err.find("Connection refused"), std::string::npos) << refused.err;

  SilentServer silent;
  RunResult hung =
      RunMigrate({"up", "--database-url",
                  absl::StrCat("postgresql://postgres@127.0.0.1:", silent.port(), "/x?connect_timeout=2")},
                 {}, "", absl::Seconds(20));
  EXPECT_EQ(hung.exit_code, 1) << hung.err;
  EXPECT_LT(hung.elapsed, absl::Seconds(8));
  EXPECT_NE(hung.err.find("timeout"), std::string::npos) << hung.err;
}

TEST_F(MigrateTest, BinaryRefusesEditedAndDuplicateMigrationsNamingTheFiles) {
  TempDir dir;
  testutil::CopyMigrations(dir.path());
  const std::string url = EmptyDatabase();
  ASSERT_EQ(RunMigrate({"up", "--database-url", url, "--dir", dir.path()}).exit_code, 0);
  {
    std::ofstream edit(dir.File("0002_edge.sql"), std::ios::app);
    edit << "\n-- an innocent-looking edit\n";
  }
  RunResult edited = RunMigrate({"up", "--database-url", url, "--dir", dir.path()});
  EXPECT_EQ(edited.exit_code, 1);
  EXPECT_NE(edited.err.find("0002_edge.sql"), std::string::npos) << edited.err;
  RunResult status = RunMigrate({"status", "--database-url", url, "--dir", dir.path()});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_NE(status.out.find("CHANGED"), std::string::npos) << status.out;

  TempDir dup;
  testutil::CopyMigrations(dup.path());
  WriteFile(dup.File("0003_also_three.sql"), "SELECT 1;");
  RunResult duplicate = RunMigrate({"up", "--database-url", EmptyDatabase(), "--dir", dup.path()});
  EXPECT_EQ(duplicate.exit_code, 1);
  EXPECT_NE(duplicate.err.find("0003_incident.sql"), std::string::npos) << duplicate.err;
  EXPECT_NE(duplicate.err.find("0003_also_three.sql"), std::string::npos) << duplicate.err;
}

TEST_F(MigrateTest, TwoMigratorsAtOnceApplyEachMigrationOnce) {
  // The real migrations on a fresh database.
  {
    const std::string url = EmptyDatabase();
    Child a({"up", "--database-url", url}, {}, work_.path(), work_.File("a.out"), work_.File("a.err"));
    Child b({"up", "--database-url", url}, {}, work_.path(), work_.File("b.out"), work_.File("b.err"));
    RunResult ra = a.Wait();
    RunResult rb = b.Wait();
    ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
    ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;
    EXPECT_EQ(CountOccurrences(ra.out + rb.out, "\"msg\":\"migration applied\""), MigrationCount())
        << ra.out << rb.out;
    auto pool = pg::Pool::Create({.url = url, .size = 1});
    auto r = (*pool)->Execute({"count", "SELECT count(*) FROM public.schema_migrations"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->front().Get<int64_t>(0), MigrationCount());
  }
  // A slow first migration makes the second migrator wait on the lock and then find the work done.
  {
    TempDir dir;
    WriteFile(dir.File("0001_slow.sql"), "SELECT pg_sleep(0.8);\nCREATE TABLE slow (id int);");
    WriteFile(dir.File("0002_after.sql"), "CREATE TABLE after_slow (id int);");
    const std::string url = EmptyDatabase();
    Child a({"up", "--database-url", url, "--dir", dir.path()}, {}, work_.path(), work_.File("c.out"),
            work_.File("c.err"));
    Child b({"up", "--database-url", url, "--dir", dir.path()}, {}, work_.path(), work_.File("d.out"),
            work_.File("d.err"));
    RunResult ra = a.Wait();
    RunResult rb = b.Wait();
    ASSERT_EQ(ra.exit_code, 0) << ra.out << ra.err;
    ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;
    const std::string both = ra.out + rb.out;
    EXPECT_EQ(CountOccurrences(both, "\"msg\":\"migration applied\""), 2) << both;
    EXPECT_GE(CountOccurrences(both, "already applied by another migrator"), 1) << both;
  }
}

}  // namespace
}  // namespace protectogram::migrate
