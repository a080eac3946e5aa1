// protectogram-bench-jobs: how late durable jobs run and how fast a worker drains them, beside the machine's
// own claim ceiling measured by pgbench in the same run (docs/benchmarks.md, "Durable jobs").
//
//   DATABASE_URL=postgresql://postgres@127.0.0.1:55433/postgres build/bin/protectogram-bench-jobs
//
// Phases (each on a fresh table bench_jobs_q.jobs of the library's job shape):
//   1. lag:   --future-jobs (100,000) pending an hour or more ahead; a producer schedules --lag-rate (1,000)
//             jobs/s for --lag-seconds (30): 10% due at once (woken by NOTIFY), 90% due 50 ms..5 s later (a
//             timer, set from the NOTIFY's due time for those within the 2 s notify margin, else from the
//             previous claim's scan). One Worker (2 threads) runs them; lag = claim time - run_at, both from
//             the database's clock (what scheduler_job_lag_seconds observes).
//   2. drain: --drain-jobs (200,000) due no-op jobs, one Worker with 2 threads; jobs/s from Start until the
//             last completion is committed.
//   3. pgbench: tests/load/pgbench_setup.sql and pgbench_claim.sql (one SKIP LOCKED claim + update per
//             transaction), `pgbench -n -c 64 -j 2 -T 10`.
// Prints one JSON line on stdout; progress goes to stderr.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/schema.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/log.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"

#ifndef PROTECTOGRAM_SOURCE_DIR
#define PROTECTOGRAM_SOURCE_DIR "."
#endif

namespace {

using namespace protectogram;  // NOLINT: a benchmark program

constexpr char kTable[] = "bench_jobs_q.jobs";

struct Flags {
  int future_jobs = 100'000;
  int lag_rate = 1000;
  int lag_seconds = 30;
  int drain_jobs = 200'000;
  int drain_batch = 100;
  int threads = 2;
  int pgbench_seconds = 10;
  std::string load_dir = std::string(PROTECTOGRAM_SOURCE_DIR) + "/tests/load";
  bool skip_pgbench = false;
};

void Progress(const std::string& line) { std::cerr << "bench-jobs: " << line << std::endl; }

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::cerr << "bench-jobs: " << what << ": " << status << std::endl;
  std::exit(1);
}

void RunScript(pg::Pool& pool, const std::string& sql) {
  absl::StatusOr<pg::Transaction> txn = pool.Begin();
  if (!txn.ok()) Die("begin", txn.status());
  if (absl::Status s = txn->ExecuteScript(pg::Query{"bench_script", sql.c_str()}); !s.ok()) Die("script", s);
  if (absl::Status s = txn->Commit(); !s.ok()) Die("commit", s);
}

void RunStatement(pg::Pool& pool, const std::string& sql) {
  absl::StatusOr<pg::Result> r = pool.Execute(pg::Query{"bench_statement", sql.c_str()});
  if (!r.ok()) Die(sql, r.status());
}

void FreshTable(pg::Pool& pool) {
  absl::StatusOr<std::string> ddl = jobs::JobTableDdl(kTable);
  if (!ddl.ok()) Die("ddl", ddl.status());
  RunScript(pool, "DROP SCHEMA IF EXISTS bench_jobs_q CASCADE; CREATE SCHEMA bench_jobs_q;" + *ddl);
}

void ScheduleMany(jobs::JobStore& store, int count, const std::string& prefix, absl::Duration base,
                  absl::Duration spread) {
  constexpr int kChunk = 5000;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(absl::ToInt64Microseconds(spread), 1));
  for (int start = 0; start < count; start += kChunk) {
    std::vector<jobs::JobSpec> specs;
    for (int i = start; i < std::min(count, start + kChunk); ++i) {
      specs.push_back({.kind = "noop",
                       .key = prefix + std::to_string(i),
                       .delay = base + absl::Microseconds(jitter(rng))});
    }
    absl::StatusOr<int64_t> n = store.ScheduleBatch(specs);
    if (!n.ok()) Die("schedule", n.status());
  }
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

struct LagResult {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t jobs = 0;
  double notify_p99_ms = 0, timer_p99_ms = 0;
};

LagResult RunLag(pg::Pool& pool, const std::string& url, const Flags& flags) {
  FreshTable(pool);
  auto store = *jobs::JobStore::Create(pool, {.table = kTable});
  Progress(absl::StrCat("lag: scheduling ", flags.future_jobs, " future jobs"));
  ScheduleMany(*store, flags.future_jobs, "future:", absl::Hours(1), absl::Hours(1));
  RunStatement(pool, "VACUUM ANALYZE bench_jobs_q.jobs");

  std::mutex mu;
  std::vector<double> all, immediate, timed;
  const int expected = flags.lag_rate * flags.lag_seconds;
  all.reserve(expected);
  std::atomic<int> ran{0};
  kernel::MetricsRegistry metrics;
  auto worker = *jobs::Worker::Create(
      pool, {.table = kTable, .listen_url = url, .threads = flags.threads, .metrics = &metrics});
  worker->Register("lag", [&](jobs::JobContext& ctx) {
    const double ms = absl::ToDoubleMilliseconds(ctx.job().claimed_at - ctx.job().run_at);
    {
      std::lock_guard<std::mutex> lock(mu);
      all.push_back(ms);
      (absl::StartsWith(ctx.job().key, "now:") ? immediate : timed).push_back(ms);
    }
    ++ran;
    return absl::OkStatus();
  });
  if (absl::Status s = worker->Start(); !s.ok()) Die("worker start", s);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // The producer: every 10 ms, rate/100 jobs in one statement.
  Progress(absl::StrCat("lag: producing ", flags.lag_rate, " jobs/s for ", flags.lag_seconds, " s"));
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> percent(0, 99);
  std::uniform_int_distribution<int64_t> delay_us(50'000, 5'000'000);
  const int per_tick = std::max(1, flags.lag_rate / 100);
  const absl::Time start = absl::Now();
  int produced = 0;
  for (int tick = 0; produced < expected; ++tick) {
    std::vector<jobs::JobSpec> specs;
    for (int i = 0; i < per_tick && produced < expected; ++i, ++produced) {
      const bool now = percent(rng) < 10;
      specs.push_back({.kind = "lag",
                       .key = absl::StrCat(now ? "now:" : "later:", produced),
                       .delay = now ? absl::ZeroDuration() : absl::Microseconds(delay_us(rng))});
    }
    if (absl::StatusOr<int64_t> n = store->ScheduleBatch(specs); !n.ok()) Die("produce", n.status());
    const absl::Time next = start + absl::Milliseconds(10) * (tick + 1);
    const absl::Duration wait = next - absl::Now();
    if (wait > absl::ZeroDuration()) std::this_thread::sleep_for(absl::ToChronoNanoseconds(wait));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (ran.load() < expected && absl::Now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  worker->Stop();
  if (ran.load() < expected) Progress(absl::StrCat("lag: only ", ran.load(), " of ", expected, " jobs ran"));

  LagResult result;
  std::lock_guard<std::mutex> lock(mu);
  result.jobs = static_cast<int64_t>(all.size());
  result.p50_ms = Percentile(all, 0.50);
  result.p99_ms = Percentile(all, 0.99);
  result.max_ms = all.empty() ? 0 : all.back();
  result.notify_p99_ms = Percentile(immediate, 0.99);
  result.timer_p99_ms = Percentile(timed, 0.99);
  return result;
}

struct DrainResult {
  double jobs_per_s = 0;
  int64_t jobs = 0;
};

DrainResult RunDrain(pg::Pool& pool, const std::string& url, const Flags& flags) {
  FreshTable(pool);
  auto store = *jobs::JobStore::Create(pool, {.table = kTable});
  Progress(absl::StrCat("drain: scheduling ", flags.drain_jobs, " due jobs"));
  ScheduleMany(*store, flags.drain_jobs, "due:", -absl::Seconds(10), absl::Seconds(5));
  RunStatement(pool, "VACUUM ANALYZE bench_jobs_q.jobs");
  std::atomic<int> ran{0};
  kernel::MetricsRegistry metrics;
  auto worker = *jobs::Worker::Create(pool, {.table = kTable,
                                             .listen_url = url,
                                             .threads = flags.threads,
                                             .batch_size = flags.drain_batch,
                                             .metrics = &metrics});
  worker->Register("noop", [&](jobs::JobContext&) {
    ran.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  });
  const absl::Time start = absl::Now();
  if (absl::Status s = worker->Start(); !s.ok()) Die("worker start", s);
  const absl::Time deadline = start + absl::Minutes(5);
  while (ran.load() < flags.drain_jobs && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  worker->Stop();  // commits the last completion batch
  const absl::Duration took = absl::Now() - start;
  absl::StatusOr<pg::Result> done =
      pool.Execute({"bench_done", "SELECT count(*) FROM bench_jobs_q.jobs WHERE state = 'done'"});
  if (!done.ok()) Die("count", done.status());
  DrainResult result;
  result.jobs = done->front().Get<int64_t>(0);
  result.jobs_per_s = static_cast<double>(result.jobs) / absl::ToDoubleSeconds(took);
  Progress(absl::StrCat("drain: ", result.jobs, " jobs in ", absl::FormatDuration(took)));
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "bench-jobs: cannot read " << path << " (set --load-dir)" << std::endl;
    std::exit(1);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FindPgbench() {
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/bin", "/usr/local/bin"}) {
    const std::string path = std::string(dir) + "/pgbench";
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "pgbench";
}

double RunPgbench(pg::Pool& pool, const std::string& url, const Flags& flags) {
  Progress("pgbench: setting up bench_jobs");
  // One statement at a time, outside a transaction block: the setup ends with VACUUM.
  const std::string setup = ReadFile(flags.load_dir + "/pgbench_setup.sql");
  std::string statement;
  std::istringstream setup_lines(setup);
  for (std::string line; std::getline(setup_lines, line);) {
    if (absl::StartsWith(line, "--")) continue;
    statement += line + "\n";
    if (absl::EndsWith(absl::StripTrailingAsciiWhitespace(line), ";")) {
      RunStatement(pool, statement);
      statement.clear();
    }
  }
  const std::string command = absl::StrCat(FindPgbench(), " -n -c 64 -j 2 -T ", flags.pgbench_seconds,
                                           " -f '", flags.load_dir, "/pgbench_claim.sql' '", url, "' 2>&1");
  Progress("pgbench: " + command);
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) {
    std::cerr << "bench-jobs: cannot run pgbench" << std::endl;
    std::exit(1);
  }
  std::string output;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) output.append(buf, n);
  const int rc = pclose(p);
  double tps = 0;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    // "tps = 6043.1 (without initial connection time)"
    if (absl::StartsWith(line, "tps = ") && absl::StrContains(line, "without initial connection time")) {
      (void)absl::SimpleAtod(line.substr(6, line.find(' ', 6) - 6), &tps);
    }
  }
  if (rc != 0 || tps == 0) {
    std::cerr << "bench-jobs: pgbench failed:\n" << output << std::endl;
    std::exit(1);
  }
  return tps;
}

double LoadAverage() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

bool ParseFlag(const std::string& arg, const char* name, int* out) {
  const std::string prefix = std::string("--") + name + "=";
  return absl::StartsWith(arg, prefix) && absl::SimpleAtoi(arg.substr(prefix.size()), out);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (ParseFlag(arg, "future-jobs", &flags.future_jobs) || ParseFlag(arg, "lag-rate", &flags.lag_rate) ||
        ParseFlag(arg, "lag-seconds", &flags.lag_seconds) ||
        ParseFlag(arg, "drain-jobs", &flags.drain_jobs) ||
        ParseFlag(arg, "drain-batch", &flags.drain_batch) || ParseFlag(arg, "threads", &flags.threads) ||
        ParseFlag(arg, "pgbench-seconds", &flags.pgbench_seconds)) {
      continue;
    }
    if (absl::StartsWith(arg, "--load-dir=")) {
      flags.load_dir = arg.substr(11);
    } else if (arg == "--skip-pgbench") {
      flags.skip_pgbench = true;
    } else {
      std::cerr << "usage: DATABASE_URL=... protectogram-bench-jobs [--future-jobs=N] [--lag-rate=N] "
                   "[--lag-seconds=N] [--drain-jobs=N] [--drain-batch=N] [--threads=N] [--pgbench-seconds=N] "
                   "[--load-dir=DIR] [--skip-pgbench]"
                << std::endl;
      return 2;
    }
  }
  const char* url_env = std::getenv("DATABASE_URL");
  if (url_env == nullptr || *url_env == '\0') {
    std::cerr << "bench-jobs: DATABASE_URL is not set (scripts/bench-pg.sh prints one)" << std::endl;
    return 2;
  }
  const std::string url = url_env;
  kernel::InitLogging("bench-jobs", "error");  // stdout is for the result line
  auto pool = pg::Pool::Create({.url = url, .size = flags.threads + 6});
  if (!pool.ok()) Die("pool", pool.status());

  const double load_before = LoadAverage();
  const LagResult lag = RunLag(**pool, url, flags);
  const DrainResult drain = RunDrain(**pool, url, flags);
  const double pgbench = flags.skip_pgbench ? 0 : RunPgbench(**pool, url, flags);
  RunScript(**pool, "DROP SCHEMA IF EXISTS bench_jobs_q CASCADE");

  // Fixed-point numbers (boost::json would print doubles in exponent form).
  auto fixed = [](double v, int digits) { return absl::StrFormat("%.*f", digits, v); };
  std::cout << "{\"lag_p50_ms\":" << fixed(lag.p50_ms, 2) << ",\"lag_p99_ms\":" << fixed(lag.p99_ms, 2)
            << ",\"drain_jobs_per_s\":" << fixed(drain.jobs_per_s, 0)
            << ",\"pgbench_claim_tps\":" << fixed(pgbench, 0)
            << ",\"drain_vs_pgbench\":" << fixed(pgbench > 0 ? drain.jobs_per_s / pgbench : 0, 2)
            << ",\"lag_max_ms\":" << fixed(lag.max_ms, 2)
            << ",\"lag_due_now_p99_ms\":" << fixed(lag.notify_p99_ms, 2)
            << ",\"lag_ahead_p99_ms\":" << fixed(lag.timer_p99_ms, 2) << ",\"lag_jobs\":" << lag.jobs
            << ",\"future_jobs\":" << flags.future_jobs << ",\"lag_rate\":" << flags.lag_rate
            << ",\"lag_seconds\":" << flags.lag_seconds << ",\"drain_jobs\":" << drain.jobs
            << ",\"drain_batch\":" << flags.drain_batch << ",\"worker_threads\":" << flags.threads
            << ",\"load_avg_1m_before\":" << fixed(load_before, 2)
            << ",\"load_avg_1m_after\":" << fixed(LoadAverage(), 2) << "}" << std::endl;
  return 0;
}
