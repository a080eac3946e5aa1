// A throwaway Postgres for integration tests: one cluster per test binary, a template database migrated once
// (in-process, with protectogram_migrator), and a fresh database per test cloned from it.
//
// Usage (link protectogram_test_pg):
//   class InboxTest : public protectogram::test::PgTest {};
//   TEST_F(InboxTest, Dedups) {
//     auto pool = pg::Pool::Create({.url = db_url_for_role("protectogram_edge")});   // as the service role
//     ... or pool() for a superuser pool on this test's database ...
//   }
// A fixture that overrides SetUp/TearDown must call PgTest::SetUp()/PgTest::TearDown().
//
// What the cluster is: initdb in a fresh temp dir ($TMPDIR or /tmp, "protectogram-pg-XXXXXX"), started with
// pg_ctl on a free 127.0.0.1 port, trust authentication for 127.0.0.1 only (no other listen address), fsync
// off. Binaries come from $PROTECTOGRAM_PG_BINDIR, else `pg_config --bindir`, else
// /usr/lib/postgresql/15/bin. Run as root, initdb/pg_ctl run as the `postgres` user (runuser) and the temp
// dir is chown'ed to it. Teardown: the cluster is stopped and its dir removed by the gtest Environment's
// TearDown and at exit; a watchdog process (started with the cluster, in its own session) does the same if
// the test process dies in any other way (crash, abort, SIGKILL), so no postmaster outlives the test binary.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/pg/pool.h"

namespace protectogram::test {

// A database of the test cluster.
struct TestDatabase {
  std::string name;
  std::string url;  // as the superuser `postgres`
  int port = 0;
  // The URL for a login role, e.g. UrlForRole("protectogram_incident").
  std::string UrlForRole(std::string_view role) const;
};

struct PgClusterOptions {
  // Migrations for the template database; "" = the source tree's db/migrations.
  std::string migrations_dir;
  // Create and migrate the template database.
  bool create_template = true;
};

class PgCluster {
 public:
  // initdb, start, and (optionally) the migrated template. UNAVAILABLE/INTERNAL with the tail of the server
  // or tool log when something fails.
  static absl::StatusOr<std::unique_ptr<PgCluster>> Create(PgClusterOptions options = {});
  ~PgCluster();  // Destroy()
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // Simulates Postgres going down: pg_ctl stop -m fast (clients are disconnected). The port is kept.
  absl::Status Stop();
  // Brings it back on the same port and data directory.
  absl::Status Start();
  bool running() const { return running_; }

  int port() const { return port_; }
  // postgresql://<user>@127.0.0.1:<port>/<database>
  std::string Url(std::string_view database, std::string_view user = "postgres") const;
  // The superuser URL of the `postgres` maintenance database.
  std::string admin_url() const { return Url("postgres"); }
  static constexpr char kTemplateDatabase[] = "protectogram_template";

  // A new database named "t<pid>_<n>": a copy of the migrated template (CREATE DATABASE ... TEMPLATE), or
  // empty (from template0) when `from_template` is false. Dropped with the cluster at the latest.
  absl::StatusOr<TestDatabase> NewDatabase(bool from_template = true);
  // DROP DATABASE ... WITH (FORCE): disconnects its sessions first.
  absl::Status DropDatabase(std::string_view name);
  // Runs a statement on the maintenance database as superuser (no parameters).
  absl::Status AdminExecute(std::string_view sql);

  // Stops the server (immediate) and removes the directory. Idempotent; the destructor calls it.
  void Destroy();
  const std::string& root_dir() const { return root_; }
  // The server's log (for diagnosing a failed test).
  std::string ServerLog() const;

 private:
  PgCluster() = default;
  absl::Status Init(const PgClusterOptions& options);
  absl::Status StartOnPort(int port);
  absl::Status RunTool(const std::vector<std::string>& argv, const std::string& what);
  void StartWatchdog();

  std::string bindir_;
  std::string root_;
  std::string data_;
  int port_ = 0;
  bool running_ = false;
  bool as_postgres_user_ = false;
  int watchdog_fd_ = -1;
};

// The gtest Environment that owns the process's cluster. Registered automatically by linking this library;
// its TearDown (and an atexit hook) destroys the cluster.
class PgEnvironment : public ::testing::Environment {
 public:
  // The process's cluster, created with its migrated template on first use. Thread-safe. A failure is
  // remembered and returned to every later caller (the cluster is not retried per test).
  static absl::StatusOr<PgCluster*> Cluster();
  // Destroys the cluster (if any). Idempotent.
  static void Shutdown();
  void TearDown() override { Shutdown(); }
};

// Fixture base: each test gets a fresh migrated database (dropped again after the test). If Postgres was left
// stopped by an earlier test, it is started again first.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  PgCluster& cluster() { return *cluster_; }
  const std::string& db_name() const { return db_name_; }
  // Superuser URL of this test's database.
  const std::string& db_url() const { return db_url_; }
  // URL of this test's database for a login role, e.g. "protectogram_incident".
  std::string db_url_for_role(std::string_view role) const;
  // A superuser pool (size 4) on this test's database, created on first use; closed in TearDown.
  pg::Pool& pool();

 private:
  PgCluster* cluster_ = nullptr;
  std::string db_name_;
  std::string db_url_;
  std::unique_ptr<pg::Pool> pool_;
};

}  // namespace protectogram::test
