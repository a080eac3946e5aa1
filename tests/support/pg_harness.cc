#include "tests/support/pg_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/migrate/migrator.h"
#include "libs/pg/connection.h"

namespace protectogram::test {
namespace {

namespace fs = std::filesystem;

constexpr int kStartAttempts = 5;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Tail(const std::string& text, size_t max = 2000) {
  return text.size() <= max ? text : absl::StrCat("...", text.substr(text.size() - max));
}

std::string FindBindir() {
  if (const char* env = std::getenv("PROTECTOGRAM_PG_BINDIR"); env != nullptr && *env != '\0') return env;
  if (FILE* p = popen("pg_config --bindir 2>/dev/null", "r"); p != nullptr) {
    char buf[512] = {};
    const bool got = std::fgets(buf, sizeof(buf), p) != nullptr;
    pclose(p);
    std::string dir = got ? std::string(buf) : "";
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
    if (!dir.empty() && access((dir + "/initdb").c_str(), X_OK) == 0) return dir;
  }
  return "/usr/lib/postgresql/15/bin";
}

std::string FindRunuser() {
  for (const char* path : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// A port the kernel just handed out on 127.0.0.1 (free at the time; Start retries if it is taken meanwhile).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// fork + execv with output to `log_path`; returns the exit status (or -1). Everything the child needs is
// prepared before fork: only async-signal-safe calls happen in between.
int Run(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid == 0) {
    if (null_fd >= 0) dup2(null_fd, 0);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  if (null_fd >= 0) close(null_fd);
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::atomic<int> g_database_counter{0};

}  // namespace

// ---- PgCluster --------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::Create(PgClusterOptions options) {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  if (absl::Status s = cluster->Init(options); !s.ok()) return s;  // the destructor cleans up
  return cluster;
}

PgCluster::~PgCluster() { Destroy(); }

absl::Status PgCluster::RunTool(const std::vector<std::string>& argv, const std::string& what) {
  std::vector<std::string> full;
  if (as_postgres_user_) full = {FindRunuser(), "-u", "postgres", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  const std::string log = root_ + "/tool.log";
  const int rc = Run(full, log);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat(what, " failed (exit ", rc, "): ", absl::StrJoin(full, " "), "\n",
                                            Tail(ReadFile(log)), "\nserver log:\n", Tail(ServerLog())));
  }
  return absl::OkStatus();
}

void PgCluster::StartWatchdog() {
  // A shell in its own session that waits for EOF on a pipe whose only write end we hold (close-on-exec):
  // when this process dies, however it dies, the shell stops the postmaster and removes the directory.
  static constexpr char kScript[] =
      "cat >/dev/null\n"
      "pidfile=\"$2/postmaster.pid\"\n"
      "if [ -f \"$pidfile\" ]; then\n"
      "  pid=$(head -n 1 \"$pidfile\")\n"
      "  kill -QUIT \"$pid\" 2>/dev/null\n"
      "  i=0\n"
      "  while kill -0 \"$pid\" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n"
      "  kill -KILL \"$pid\" 2>/dev/null\n"
      "fi\n"
      "rm -rf \"$1\"\n";
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  std::vector<std::string> argv = {"/bin/sh", "-c", kScript, "pg-watchdog", root_, data_};
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    dup2(fds[0], 0);
    if (null_fd >= 0) {
      dup2(null_fd, 1);
      dup2(null_fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (null_fd >= 0) close(null_fd);
  close(fds[0]);
  if (pid < 0) {
    close(fds[1]);
    return;
  }
  watchdog_fd_ = fds[1];
}

absl::Status PgCluster::Init(const PgClusterOptions& options) {
  bindir_ = FindBindir();
  if (access((bindir_ + "/initdb").c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("no initdb in ", bindir_, " (install postgresql-15)"));
  }
  const passwd* pg_user = nullptr;
  if (geteuid() == 0) {
    pg_user = getpwnam("postgres");
    if (pg_user == nullptr || FindRunuser().empty()) {
      return absl::FailedPreconditionError("running as root needs a `postgres` user and runuser");
    }
    as_postgres_user_ = true;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/protectogram-pg-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  root_ = pattern;
  data_ = root_ + "/data";
  if (as_postgres_user_ && chown(root_.c_str(), pg_user->pw_uid, pg_user->pw_gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", root_, ": ", std::strerror(errno)));
  }
  StartWatchdog();

  if (absl::Status s = RunTool({bindir_ + "/initdb", "-D", data_, "-U", "postgres", "--auth=trust", "-E",
                                "UTF8", "--no-locale", "--no-sync", "--no-instructions"},
                               "initdb");
      !s.ok()) {
    return s;
  }
  // Trust, over 127.0.0.1 only (the unix socket, in our private directory, accepts nobody).
  {
    std::ofstream hba(data_ + "/pg_hba.conf", std::ios::trunc);
    hba << "host all all 127.0.0.1/32 trust\n";
    std::ofstream conf(data_ + "/postgresql.conf", std::ios::app);
    conf << "\n# protectogram test harness\n"
         << "listen_addresses = '127.0.0.1'\n"
         << "unix_socket_directories = '" << root_ << "'\n"
         << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
         << "max_connections = 200\nshared_buffers = 32MB\n"
         << "log_min_messages = warning\nlog_line_prefix = '%m [%p] %d '\n";
  }
  absl::Status started;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    const int port = FreePort();
    if (port == 0) return absl::InternalError("no free port on 127.0.0.1");
    started = StartOnPort(port);
    if (started.ok()) break;
  }
  if (!started.ok()) return started;
  std::fprintf(stderr, "pg harness: postgres on 127.0.0.1:%d, data in %s\n", port_, data_.c_str());

  if (options.create_template) {
    if (absl::Status s = AdminExecute(absl::StrCat("CREATE DATABASE ", kTemplateDatabase)); !s.ok()) return s;
    const std::string dir =
        options.migrations_dir.empty() ? migrate::CompiledMigrationsDir() : options.migrations_dir;
    absl::StatusOr<std::vector<migrate::MigrationFile>> applied =
        migrate::MigrateUp(Url(kTemplateDatabase), dir);
    if (!applied.ok()) {
      return absl::Status(applied.status().code(),
                          absl::StrCat("migrating the template database: ", applied.status().message()));
    }
    if (absl::Status s = AdminExecute(absl::StrCat("ALTER DATABASE ", kTemplateDatabase,
                                                   " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PgCluster::StartOnPort(int port) {
  absl::Status s = RunTool({bindir_ + "/pg_ctl", "-D", data_, "-l", root_ + "/postgres.log", "-w", "-t", "60",
                            "-o", absl::StrCat("-p ", port), "start"},
                           "pg_ctl start");
  if (!s.ok()) return s;
  port_ = port;
  running_ = true;
  return absl::OkStatus();
}

absl::Status PgCluster::Start() {
  if (running_) return absl::OkStatus();
  return StartOnPort(port_);
}

absl::Status PgCluster::Stop() {
  if (!running_) return absl::OkStatus();
  absl::Status s =
      RunTool({bindir_ + "/pg_ctl", "-D", data_, "-m", "fast", "-w", "-t", "60", "stop"}, "pg_ctl stop");
  if (s.ok()) running_ = false;
  return s;
}

void PgCluster::Destroy() {
  if (root_.empty()) return;
  if (running_ || fs::exists(data_ + "/postmaster.pid")) {
    absl::Status s = RunTool({bindir_ + "/pg_ctl", "-D", data_, "-m", "immediate", "-w", "-t", "30", "stop"},
                             "pg_ctl stop");
    if (!s.ok()) std::fprintf(stderr, "pg harness: %s\n", std::string(s.message()).c_str());
    running_ = false;
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
  root_.clear();
  if (watchdog_fd_ >= 0) {
    close(watchdog_fd_);  // the watchdog finds nothing left to do and exits
    watchdog_fd_ = -1;
  }
}

std::string PgCluster::ServerLog() const { return root_.empty() ? "" : ReadFile(root_ + "/postgres.log"); }

std::string PgCluster::Url(std::string_view database, std::string_view user) const {
  return absl::StrCat("postgresql://", std::string(user), "@127.0.0.1:", port_, "/", std::string(database));
}

absl::Status PgCluster::AdminExecute(std::string_view sql) {
  absl::StatusOr<std::unique_ptr<pg::Connection>> conn =
      pg::Connection::Open(admin_url(), pg::ConnectOptions{.application_name = "pg-harness"});
  if (!conn.ok()) return conn.status();
  const std::string text(sql);
  return (*conn)->ExecuteScript(pg::Query{"pg_harness_admin", text.c_str()}, absl::Now() + absl::Seconds(60));
}

absl::StatusOr<TestDatabase> PgCluster::NewDatabase(bool from_template) {
  TestDatabase db;
  db.name = absl::StrCat("t", getpid(), "_", g_database_counter.fetch_add(1));
  db.port = port_;
  db.url = Url(db.name);
  const std::string sql = absl::StrCat(
      "CREATE DATABASE ", QuoteIdent(db.name), " TEMPLATE ",
      from_template ? QuoteIdent(kTemplateDatabase) : std::string("template0"), " STRATEGY FILE_COPY");
  if (absl::Status s = AdminExecute(sql); !s.ok()) return s;
  return db;
}

std::string TestDatabase::UrlForRole(std::string_view role) const {
  return absl::StrCat("postgresql://", std::string(role), "@127.0.0.1:", port, "/", name);
}

absl::Status PgCluster::DropDatabase(std::string_view name) {
  return AdminExecute(absl::StrCat("DROP DATABASE IF EXISTS ", QuoteIdent(name), " WITH (FORCE)"));
}

// ---- PgEnvironment ----------------------------------------------------------------------------------------

namespace {

struct EnvState {
  std::mutex mu;
  std::unique_ptr<PgCluster> cluster;
  absl::Status error;
  bool created = false;
};

EnvState& State() {
  static auto* state = new EnvState();  // never destroyed: usable from atexit
  return *state;
}

void ShutdownAtExit() { PgEnvironment::Shutdown(); }

const bool kRegistered = [] {
  ::testing::AddGlobalTestEnvironment(new PgEnvironment());
  std::atexit(&ShutdownAtExit);
  return true;
}();

}  // namespace

absl::StatusOr<PgCluster*> PgEnvironment::Cluster() {
  (void)kRegistered;
  EnvState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.created) {
    state.created = true;
    absl::StatusOr<std::unique_ptr<PgCluster>> cluster = PgCluster::Create();
    if (cluster.ok()) {
      state.cluster = *std::move(cluster);
    } else {
      state.error = cluster.status();
    }
  }
  if (!state.error.ok()) return state.error;
  if (state.cluster == nullptr) return absl::FailedPreconditionError("pg harness: cluster already shut down");
  return state.cluster.get();
}

void PgEnvironment::Shutdown() {
  EnvState& state = State();
  std::lock_guard<std::mutex> lock(state.mu);
  state.cluster.reset();
}

// ---- PgTest -----------------------------------------------------------------------------------------------

void PgTest::SetUp() {
  absl::StatusOr<PgCluster*> cluster = PgEnvironment::Cluster();
  ASSERT_TRUE(cluster.ok()) << "pg harness could not start Postgres: " << cluster.status();
  cluster_ = *cluster;
  if (!cluster_->running()) {
    absl::Status started = cluster_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }
  absl::StatusOr<TestDatabase> db = cluster_->NewDatabase();
  ASSERT_TRUE(db.ok()) << db.status();
  db_name_ = db->name;
  db_url_ = db->url;
}

void PgTest::TearDown() {
  pool_.reset();
  if (cluster_ == nullptr || db_name_.empty()) return;
  if (!cluster_->running()) {
    absl::Status started = cluster_->Start();
    EXPECT_TRUE(started.ok()) << started;
  }
  absl::Status dropped = cluster_->DropDatabase(db_name_);
  EXPECT_TRUE(dropped.ok()) << dropped;
}

std::string PgTest::db_url_for_role(std::string_view role) const { return cluster_->Url(db_name_, role); }

pg::Pool& PgTest::pool() {
  if (pool_ == nullptr) {
    absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create({.url = db_url_, .size = 4});
    if (!pool.ok()) {
      ADD_FAILURE() << pool.status();
      std::abort();
    }
    pool_ = *std::move(pool);
  }
  return *pool_;
}

}  // namespace protectogram::test
