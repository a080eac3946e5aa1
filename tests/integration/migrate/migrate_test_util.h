// Helpers shared by the migrator tests: temp directories, fresh empty databases, running the binary.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "db/migrate/migrator.h"
#include "tests/support/pg_harness.h"

namespace protectogram::migrate::testutil {

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline int CountOccurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A temp directory removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "protectogram-migrate-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A copy of the real migrations in a temp dir, so a test may edit them.
inline void CopyMigrations(const std::string& to) {
  for (const auto& entry : std::filesystem::directory_iterator(CompiledMigrationsDir())) {
    std::filesystem::copy_file(entry.path(), std::filesystem::path(to) / entry.path().filename());
  }
}

struct RunResult {
  int exit_code = -1;  // -2 if it had to be killed after the timeout
  std::string out;
  std::string err;
  absl::Duration elapsed;
};

// A started protectogram-migrate process.
class Child {
 public:
  // `env` is the child's whole environment (plus PATH); `cwd` its working directory.
  Child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& cwd,
        const std::string& out_path, const std::string& err_path)
      : out_path_(out_path), err_path_(err_path), start_(absl::Now()) {
    const char* bin_dir = std::getenv("PROTECTOGRAM_BIN_DIR");
    const std::string binary = absl::StrCat(bin_dir != nullptr ? bin_dir : "bin", "/protectogram-migrate");
    std::vector<std::string> argv = {binary};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envv = env;
    envv.push_back("PATH=/usr/bin:/bin");
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : envv) e.push_back(s.data());
    e.push_back(nullptr);
    const int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out_fd, 1);
      dup2(err_fd, 2);
      if (chdir(cwd.c_str()) != 0) _exit(126);
      execve(a[0], a.data(), e.data());
      _exit(127);
    }
    close(out_fd);
    close(err_fd);
  }

  RunResult Wait(absl::Duration timeout = absl::Seconds(30)) {
    RunResult r;
    int status = 0;
    const absl::Time give_up = start_ + timeout;
    while (true) {
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      if (absl::Now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        r.exit_code = -2;
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    r.elapsed = absl::Now() - start_;
    r.out = ReadAll(out_path_);
    r.err = ReadAll(err_path_);
    return r;
  }

 private:
  std::string out_path_;
  std::string err_path_;
  absl::Time start_;
  pid_t pid_ = -1;
};

// Fixture: the harness cluster plus helpers for empty databases and binary runs.
class MigrateTest : public test::PgTest {
 protected:
  void TearDown() override {
    for (const std::string& name : extra_databases_) {
      absl::Status s = cluster().DropDatabase(name);
      EXPECT_TRUE(s.ok()) << s;
    }
    test::PgTest::TearDown();
  }

  // A new empty database (not from the migrated template); returns its superuser URL.
  std::string EmptyDatabase() {
    absl::StatusOr<test::TestDatabase> db = cluster().NewDatabase(/*from_template=*/false);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return "";
    extra_databases_.push_back(db->name);
    return db->url;
  }

  RunResult RunMigrate(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                       const std::string& cwd = "", absl::Duration timeout = absl::Seconds(30)) {
    const std::string dir = cwd.empty() ? work_.path() : cwd;
    const std::string tag = std::to_string(runs_++);
    Child child(args, env, dir, work_.File("out" + tag), work_.File("err" + tag));
    return child.Wait(timeout);
  }

  TempDir work_;
  int runs_ = 0;
  std::vector<std::string> extra_databases_;
};

}  // namespace protectogram::migrate::testutil
