#include "libs/jobs/job_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/jobs/queries.h"

namespace protectogram::jobs {
namespace {

using internal::BoundQuery;
using internal::DurationMicros;

absl::Status ValidateSpec(const JobSpec& spec) {
  if (spec.kind.empty()) return absl::InvalidArgumentError("job kind is empty");
  if (spec.key.empty()) return absl::InvalidArgumentError("job key is empty");
  if (spec.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat("job ", spec.key, ": max_attempts must be at least 1"));
  }
  return absl::OkStatus();
}

std::optional<int64_t> RunAtMicros(const JobSpec& spec) {
  if (!spec.run_at.has_value()) return std::nullopt;
  return absl::ToUnixMicros(*spec.run_at);
}

}  // namespace

namespace internal {

Job JobFromRow(const pg::Row& row) {
  Job job;
  job.id = row.Get<int64_t>("id");
  job.kind = row.Get<std::string>("action_type");
  job.key = row.Get<std::string>("job_key");
  job.incident_id = row.GetOptional<int64_t>("incident_id");
  job.run_at = absl::FromUnixMicros(row.Get<int64_t>("run_at_us"));
  job.state = ParseJobState(row.Get<std::string>("state")).value_or(JobState::kPending);
  job.attempts = row.Get<int32_t>("attempts");
  job.max_attempts = row.Get<int32_t>("max_attempts");
  job.last_error = row.GetOptional<std::string>("last_error").value_or("");
  job.payload_json = row.Get<std::string>("payload_json");
  job.updated_at = absl::FromUnixMicros(row.Get<int64_t>("updated_at_us"));
  return job;
}

std::string LikePrefixPattern(std::string_view prefix) {
  std::string pattern;
  pattern.reserve(prefix.size() + 4);
  for (char c : prefix) {
    if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

}  // namespace internal

std::string JobsChannel(std::string_view table) { return absl::StrCat("jobs:", std::string(table)); }

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Create(pg::Pool& pool, JobStoreOptions options) {
  if (absl::Status s = internal::ValidateTableName(options.table); !s.ok()) return s;
  return std::unique_ptr<JobStore>(new JobStore(pool, std::move(options)));
}

JobStore::JobStore(pg::Pool& pool, JobStoreOptions options)
    : pool_(pool),
      table_(options.table),
      channel_(JobsChannel(options.table)),
      margin_(options.notify_margin),
      schedule_(queries::kScheduleJob, table_),
      schedule_batch_(queries::kScheduleJobs, table_),
      id_by_key_(queries::kJobIdByKey, table_),
      cancel_(queries::kCancelJob, table_),
      cancel_prefix_(queries::kCancelPrefix, table_),
      by_key_(queries::kJobByKey, table_),
      by_id_(queries::kJobById, table_),
      list_dead_(queries::kListDeadJobs, table_),
      redrive_(queries::kRedriveJob, table_),
      count_(queries::kCountJobs, table_) {}

template <typename Db>
absl::StatusOr<ScheduleResult> JobStore::ScheduleOn(Db& db, const JobSpec& spec) {
  if (absl::Status s = ValidateSpec(spec); !s.ok()) return s;
  absl::StatusOr<pg::Result> r = db.Execute(
      schedule_, {spec.kind, spec.key, spec.incident_id, RunAtMicros(spec), DurationMicros(spec.delay),
                  spec.max_attempts, spec.payload_json, channel_, DurationMicros(margin_)});
  if (!r.ok()) return r.status();
  if (!r->empty()) return ScheduleResult{r->front().Get<int64_t>("id"), true};
  // The key exists (or was inserted concurrently and committed while we waited on it).
  absl::StatusOr<pg::Result> existing = db.Execute(id_by_key_, {spec.key});
  if (!existing.ok()) return existing.status();
  return ScheduleResult{existing->empty() ? 0 : existing->front().Get<int64_t>("id"), false};
}

template <typename Db>
absl::StatusOr<int64_t> JobStore::ScheduleBatchOn(Db& db, const std::vector<JobSpec>& specs) {
  if (specs.empty()) return 0;
  std::vector<std::optional<std::string>> kinds, keys, incidents, run_ats, delays, max_attempts, payloads;
  for (const JobSpec& spec : specs) {
    if (absl::Status s = ValidateSpec(spec); !s.ok()) return s;
    kinds.emplace_back(spec.kind);
    keys.emplace_back(spec.key);
    incidents.push_back(spec.incident_id ? std::optional<std::string>(std::to_string(*spec.incident_id))
                                         : std::nullopt);
    std::optional<int64_t> run_at = RunAtMicros(spec);
    run_ats.push_back(run_at ? std::optional<std::string>(std::to_string(*run_at)) : std::nullopt);
    delays.emplace_back(std::to_string(DurationMicros(spec.delay)));
    max_attempts.emplace_back(std::to_string(spec.max_attempts));
    payloads.emplace_back(spec.payload_json);
  }
  using internal::ArrayLiteral;
  absl::StatusOr<pg::Result> r =
      db.Execute(schedule_batch_, {ArrayLiteral(kinds), ArrayLiteral(keys), ArrayLiteral(incidents),
                                   ArrayLiteral(run_ats), ArrayLiteral(delays), ArrayLiteral(max_attempts),
                                   ArrayLiteral(payloads), channel_, DurationMicros(margin_)});
  if (!r.ok()) return r.status();
  return r->front().Get<int64_t>("inserted");
}

template <typename Db>
absl::StatusOr<int64_t> JobStore::CancelPrefixOn(Db& db, std::string_view prefix) {
  if (prefix.empty())
    return absl::InvalidArgumentError("cancel prefix is empty (that would cancel everything)");
  absl::StatusOr<pg::Result> r = db.Execute(cancel_prefix_, {internal::LikePrefixPattern(prefix)});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<ScheduleResult> JobStore::Schedule(const JobSpec& spec) { return ScheduleOn(pool_, spec); }
absl::StatusOr<ScheduleResult> JobStore::Schedule(pg::Transaction& txn, const JobSpec& spec) {
  return ScheduleOn(txn, spec);
}
absl::StatusOr<int64_t> JobStore::ScheduleBatch(const std::vector<JobSpec>& specs) {
  return ScheduleBatchOn(pool_, specs);
}
absl::StatusOr<int64_t> JobStore::ScheduleBatch(pg::Transaction& txn, const std::vector<JobSpec>& specs) {
  return ScheduleBatchOn(txn, specs);
}

absl::StatusOr<int64_t> JobStore::Cancel(std::string_view key) {
  absl::StatusOr<pg::Result> r = pool_.Execute(cancel_, {key});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}
absl::StatusOr<int64_t> JobStore::Cancel(pg::Transaction& txn, std::string_view key) {
  absl::StatusOr<pg::Result> r = txn.Execute(cancel_, {key});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}
absl::StatusOr<int64_t> JobStore::CancelPrefix(std::string_view prefix) {
  return CancelPrefixOn(pool_, prefix);
}
absl::StatusOr<int64_t> JobStore::CancelPrefix(pg::Transaction& txn, std::string_view prefix) {
  return CancelPrefixOn(txn, prefix);
}

absl::StatusOr<Job> JobStore::Get(std::string_view key) {
  absl::StatusOr<pg::Result> r = pool_.Execute(by_key_, {key});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no job with key ", std::string(key)));
  return internal::JobFromRow(r->front());
}

absl::StatusOr<Job> JobStore::GetById(int64_t id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(by_id_, {id});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no job with id ", id));
  return internal::JobFromRow(r->front());
}

absl::StatusOr<std::vector<Job>> JobStore::ListDead(int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(list_dead_, {std::clamp(limit, 1, 1000)});
  if (!r.ok()) return r.status();
  std::vector<Job> jobs;
  jobs.reserve(r->size());
  for (const pg::Row& row : *r) jobs.push_back(internal::JobFromRow(row));
  return jobs;
}

absl::StatusOr<Job> JobStore::Redrive(int64_t id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(redrive_, {id, channel_});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no dead job with id ", id));
  return internal::JobFromRow(r->front());
}

absl::StatusOr<JobCounts> JobStore::Count() {
  absl::StatusOr<pg::Result> r = pool_.Execute(count_);
  if (!r.ok()) return r.status();
  const pg::Row row = r->front();
  return JobCounts{row.Get<int64_t>("due"), row.Get<int64_t>("pending"), row.Get<int64_t>("running"),
                   row.Get<int64_t>("dead")};
}

}  // namespace protectogram::jobs
