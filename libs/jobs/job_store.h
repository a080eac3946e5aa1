// Durable jobs: what must happen later, or again until it succeeds. One table per service (incident's is
// incident.scheduled_actions; notification.jobs, telephony.jobs), worked by jobs::Worker (worker.h).
//
//   auto store = jobs::JobStore::Create(pool, {.table = "incident.scheduled_actions"});
//   // The state change and its timer commit together:
//   auto txn = pool.Begin();
//   ... UPDATE incident ...
//   (*store)->Schedule(*txn, {.kind = "cascade_step", .key = "incident:42:step:1",
//                             .delay = absl::Seconds(25), .incident_id = 42,
//                             .payload_json = R"({"step":1})"});
//   txn->Commit();
//   // Acknowledged: stop everything of the incident.
//   (*store)->CancelPrefix(*txn, "incident:42:");
//
// Keys are unique per table: scheduling a key that exists (pending, running, or done and not yet pruned) is a
// no-op. A job due sooner than every worker already knows of is announced with pg_notify in the same
// statement, so a worker wakes within milliseconds of the commit. Thread-safe (the Pool is).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/jobs/internal/sql.h"
#include "libs/jobs/states.h"
#include "libs/pg/pool.h"

namespace protectogram::jobs {

struct JobSpec {
  std::string kind;  // action_type: picks the handler
  std::string key;   // job_key: unique per table; a repeat is a no-op. Prefix it for CancelPrefix.
  // Due time: `run_at` when set (application clock), else `delay` after the database's clock.
  std::optional<absl::Time> run_at;
  absl::Duration delay = absl::ZeroDuration();
  std::optional<int64_t> incident_id;
  std::string payload_json = "{}";  // must be valid JSON
  int max_attempts = 5;             // claims before the job goes dead
};

struct Job {
  int64_t id = 0;
  std::string kind;
  std::string key;
  std::optional<int64_t> incident_id;
  absl::Time run_at = absl::InfinitePast();  // database clock
  JobState state = JobState::kPending;
  int attempts = 0;  // claims so far, the current one included
  int max_attempts = 0;
  std::string payload_json;
  std::string last_error;
  absl::Time updated_at = absl::InfinitePast();
  // Set on a claimed job: the claim's database time and its lease token (the lease_until it set, which
  // every later update of the claim must match).
  absl::Time claimed_at = absl::InfinitePast();
  int64_t lease_token = 0;
};

struct ScheduleResult {
  int64_t id = 0;        // the job's id (the existing one when not created)
  bool created = false;  // false: the key existed, nothing changed
};

struct JobCounts {
  int64_t due = 0;      // pending and due now (not claimed yet)
  int64_t pending = 0;  // pending, due later
  int64_t running = 0;
  int64_t dead = 0;
};

struct JobStoreOptions {
  std::string table;  // "incident.scheduled_actions"
  // A job due within this margin of the statement is always announced. It covers the time between the
  // scheduling statement and its transaction's commit; keep transactions that schedule shorter than this.
  absl::Duration notify_margin = absl::Seconds(2);
};

// The NOTIFY channel of a job table ("jobs:<table>").
std::string JobsChannel(std::string_view table);

class JobStore {
 public:
  // INVALID_ARGUMENT for a malformed table name. The pool must outlive the store.
  static absl::StatusOr<std::unique_ptr<JobStore>> Create(pg::Pool& pool, JobStoreOptions options);

  // Schedules one job (own statement, or inside the caller's transaction: it exists when that commits).
  // INVALID_ARGUMENT for an empty kind or key, max_attempts < 1, or a payload that is not JSON; otherwise
  // the errors of pg (UNAVAILABLE, ...).
  absl::StatusOr<ScheduleResult> Schedule(const JobSpec& spec);
  absl::StatusOr<ScheduleResult> Schedule(pg::Transaction& txn, const JobSpec& spec);
  // Many jobs in one statement; returns how many were created (existing keys are skipped).
  absl::StatusOr<int64_t> ScheduleBatch(const std::vector<JobSpec>& specs);
  absl::StatusOr<int64_t> ScheduleBatch(pg::Transaction& txn, const std::vector<JobSpec>& specs);

  // Cancels the pending or running job with this key; returns how many were removed (0 or 1). A running
  // handler finishes, but its outcome is dropped (no retry, no done row).
  absl::StatusOr<int64_t> Cancel(std::string_view key);
  absl::StatusOr<int64_t> Cancel(pg::Transaction& txn, std::string_view key);
  // Cancels every pending or running job whose key starts with `prefix` ("incident:42:"). INVALID_ARGUMENT
  // for an empty prefix.
  absl::StatusOr<int64_t> CancelPrefix(std::string_view prefix);
  absl::StatusOr<int64_t> CancelPrefix(pg::Transaction& txn, std::string_view prefix);

  // NOT_FOUND if no job has this key / id.
  absl::StatusOr<Job> Get(std::string_view key);
  absl::StatusOr<Job> GetById(int64_t id);
  // Dead jobs, most recent first; limit is clamped to 1..1000.
  absl::StatusOr<std::vector<Job>> ListDead(int limit = 100);
  // Puts a dead job back, due now, attempts reset. NOT_FOUND if no dead job has this id.
  absl::StatusOr<Job> Redrive(int64_t id);
  absl::StatusOr<JobCounts> Count();

  const std::string& table() const { return table_; }
  const std::string& channel() const { return channel_; }

 private:
  JobStore(pg::Pool& pool, JobStoreOptions options);
  template <typename Db>
  absl::StatusOr<ScheduleResult> ScheduleOn(Db& db, const JobSpec& spec);
  template <typename Db>
  absl::StatusOr<int64_t> ScheduleBatchOn(Db& db, const std::vector<JobSpec>& specs);
  template <typename Db>
  absl::StatusOr<int64_t> CancelPrefixOn(Db& db, std::string_view prefix);

  pg::Pool& pool_;
  const std::string table_;
  const std::string channel_;
  const absl::Duration margin_;
  internal::BoundQuery schedule_, schedule_batch_, id_by_key_, cancel_, cancel_prefix_, by_key_, by_id_,
      list_dead_, redrive_, count_;
};

namespace internal {
// Reads a job row of the PROTECTOGRAM_JOB_COLUMNS shape (queries.h).
Job JobFromRow(const pg::Row& row);
// "a%b_" -> "a\%b\_%": a LIKE pattern matching exactly the strings that start with `prefix`.
std::string LikePrefixPattern(std::string_view prefix);
}  // namespace internal

}  // namespace protectogram::jobs
