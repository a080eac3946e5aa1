// Runs the durable jobs of one table (job_store.h) with handlers registered by kind.
//
//   jobs::Worker::Options options{
//       .table = "incident.scheduled_actions",
//       .listen_url = jobs::ListenUrlFor(config.database_url, config.database_direct_url),
//       .threads = 2};
//   auto worker = jobs::Worker::Create(pool, options);
//   (*worker)->Register("cascade_step", [&](jobs::JobContext& ctx) { return cascade.Step(ctx); });
//   (*worker)->Start();
//   ...
//   (*worker)->Stop();  // finishes running handlers, gives unstarted claimed jobs back
//
// Delivery is at least once: a handler can run again after a crash, a lost lease or a failed completion, so a
// handler either is idempotent or writes its effect and ctx.CompleteIn(txn) in one transaction (then the
// effect happens exactly once). A handler returns:
//   OK                   -> done (or rescheduled, if it called ctx.RescheduleAfter/At);
//   a permanent error    -> dead at once (retry.h: INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, Permanent());
//   any other error      -> retried after the kind's RetryPolicy delay (or WithRetryAfter's), dead after
//                           max_attempts claims.
// Wake-ups: LISTEN on the table's channel (on listen_url: DATABASE_DIRECT_URL when set — a transaction pooler
// cannot keep a LISTEN), a timer for the nearest run_at, and a slow safety rescan; no polling on the hot
// path. Expired leases are reclaimed, done rows pruned after `keep_done`, and jobs_due sampled, by a
// maintenance thread. Metrics: scheduler_job_lag_seconds{kind}, jobs_total{kind,result}, jobs_due{queue}.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/jobs/clock.h"
#include "libs/jobs/internal/engine.h"
#include "libs/jobs/internal/sql.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/retry.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"

namespace protectogram::jobs {

class Worker;

// What a handler gets: the job, and ways to end it other than by its return value.
class JobContext {
 public:
  const Job& job() const { return job_; }
  // The payload as stored (JSON text).
  const std::string& payload_json() const { return job_.payload_json; }

  // Marks the job done inside the handler's transaction, so the effect and the completion commit together
  // (exactly once in effect). ABORTED if this worker no longer holds the job (cancelled, or its lease expired
  // and another worker took it): roll the transaction back and return. Errors of pg otherwise.
  absl::Status CompleteIn(pg::Transaction& txn);
  // On an OK return: run the job again later instead of marking it done (attempts start over).
  void RescheduleAfter(absl::Duration delay);
  void RescheduleAt(absl::Time run_at);
  // Keeps the job for `lease` from now (long handlers). ABORTED if the job is no longer held.
  absl::Status ExtendLease(absl::Duration lease);
  // Stop() was called: a long handler may return early (an error is retried later, elsewhere).
  bool stopping() const;

 private:
  friend class Worker;
  JobContext(Worker* worker, Job& job) : worker_(worker), job_(job) {}

  Worker* worker_;
  Job& job_;
  bool completed_ = false;
  std::optional<absl::Time> reschedule_at_;
  std::optional<absl::Duration> reschedule_after_;
};

using JobHandler = std::function<absl::Status(JobContext& ctx)>;

struct KindOptions {
  std::optional<RetryPolicy> retry;  // default: WorkerOptions::retry
};

struct WorkerOptions {
  std::string table;       // "incident.scheduled_actions"
  std::string listen_url;  // DATABASE_DIRECT_URL if set, else DATABASE_URL; "" = no LISTEN (timer + rescan)
  int threads = 2;         // handler threads
  int batch_size = 32;     // jobs per claim and per completion statement; 1 for long handlers
  absl::Duration lease = absl::Seconds(60);  // a job whose worker vanished runs again after this
  RetryPolicy retry = RetryPolicy::Exponential(absl::Seconds(1), absl::Minutes(5));
  absl::Duration rescan_interval = absl::Seconds(30);  // safety net for lost notifications
  absl::Duration reclaim_interval = absl::Seconds(5);  // how often expired leases are looked for
  absl::Duration keep_done = absl::Minutes(10);        // done rows (and their keys) are kept this long
  absl::Duration prune_interval = absl::Minutes(1);
  int prune_batch = 1000;
  absl::Duration due_gauge_interval = absl::Seconds(5);
  absl::Duration notify_margin = absl::Seconds(2);  // as JobStoreOptions::notify_margin
  kernel::MetricsRegistry* metrics = nullptr;       // nullptr: kernel::DefaultMetrics()
  Clock* clock = nullptr;                           // nullptr: DefaultClock()
};

// The URL a Worker or relay LISTENs on: DATABASE_DIRECT_URL when set (a session connection past a transaction
// pooler), else DATABASE_URL. With kernel::ProcessConfig:
//   ListenUrlFor(c.database_url, c.database_direct_url)
inline std::string ListenUrlFor(const std::string& database_url, const std::string& database_direct_url) {
  return database_direct_url.empty() ? database_url : database_direct_url;
}

class Worker {
 public:
  using Options = WorkerOptions;

  // INVALID_ARGUMENT for a malformed table name. The pool must outlive the worker; give it at least
  // threads + 2 connections (claims, completions, maintenance) plus what handlers use.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(pg::Pool& pool, WorkerOptions options);
  ~Worker();  // Stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Registers the handler of a kind. Before Start only (aborts otherwise: a wiring bug); again for the same
  // kind replaces it. A claimed job of an unregistered kind is retried (another replica may know it).
  void Register(std::string kind, JobHandler handler, KindOptions options = {});
  // Starts the threads. INVALID_ARGUMENT for a malformed listen_url; FAILED_PRECONDITION if started twice.
  // Postgres being down is not an error: the worker retries in the background.
  absl::Status Start();
  // Finishes running handlers, releases claimed jobs that did not start, completes finished ones, and
  // joins. Idempotent.
  void Stop();
  // Something was scheduled in this process and may be due now (a cheap hint; LISTEN covers other processes).
  void Wake();

  const std::string& table() const { return table_; }

 private:
  friend class JobContext;
  struct Kind {
    JobHandler handler;
    RetryPolicy retry;
    kernel::HistogramChild* lag = nullptr;  // scheduler_job_lag_seconds{kind}, looked up once
    kernel::CounterChild* done = nullptr;   // jobs_total{kind,"done"}
  };
  Worker(pg::Pool& pool, WorkerOptions options);

  absl::StatusOr<internal::ClaimBatch<Job>> Claim(int limit);
  bool Process(Job& job);
  absl::Status Complete(std::vector<Job>& jobs);
  absl::Status Release(std::vector<Job>& jobs);
  bool ReclaimExpired();
  bool PruneDone();
  bool SampleDue();
  // pending again (retry, reschedule) or dead; logs and counts.
  void Requeue(Job& job, std::string_view state, std::optional<absl::Time> run_at,
               std::optional<absl::Duration> delay, bool reset_attempts, const std::string& error,
               std::string_view result);
  kernel::CounterChild& JobsTotal(const std::string& kind, std::string_view result);

  pg::Pool& pool_;
  WorkerOptions options_;
  const std::string table_;
  const std::string channel_;
  kernel::MetricsRegistry& metrics_;
  std::map<std::string, Kind, std::less<>> kinds_;
  std::unique_ptr<internal::Engine<Job>> engine_;
  std::atomic<bool> started_{false};
  internal::BoundQuery claim_, complete_, complete_one_, requeue_, release_, reclaim_, extend_, prune_,
      count_due_;
};

}  // namespace protectogram::jobs
