#include "libs/jobs/worker.h"

#include <algorithm>
#include <cstdlib>
#include <exception>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "libs/jobs/internal/metrics.h"
#include "libs/jobs/queries.h"
#include "libs/kernel/log.h"

namespace protectogram::jobs {
namespace {

using internal::DurationMicros;

constexpr size_t kMaxErrorLength = 2000;
constexpr int kReclaimBatch = 1000;
constexpr int kMaxPruneRounds = 100;  // per maintenance run; the rest waits for the next one

std::string ErrorText(const absl::Status& status) {
  std::string text = status.ToString();
  if (text.size() > kMaxErrorLength) text.resize(kMaxErrorLength);
  return text;
}

double UniformUnit() {
  thread_local absl::BitGen gen;
  return absl::Uniform(gen, 0.0, 1.0);
}

}  // namespace

// ---- JobContext -----------------------------------------------------------------------------------------

absl::Status JobContext::CompleteIn(pg::Transaction& txn) {
  absl::StatusOr<pg::Result> r = txn.Execute(worker_->complete_one_, {job_.id, job_.lease_token});
  if (!r.ok()) return r.status();
  if (r->affected_rows() != 1) {
    return absl::AbortedError(absl::StrCat("job ", job_.key, " is no longer held by this worker"));
  }
  completed_ = true;
  return absl::OkStatus();
}

void JobContext::RescheduleAfter(absl::Duration delay) {
  reschedule_after_ = std::max(delay, absl::ZeroDuration());
  reschedule_at_.reset();
}

void JobContext::RescheduleAt(absl::Time run_at) {
  reschedule_at_ = run_at;
  reschedule_after_.reset();
}

absl::Status JobContext::ExtendLease(absl::Duration lease) {
  absl::StatusOr<pg::Result> r =
      worker_->pool_.Execute(worker_->extend_, {job_.id, job_.lease_token, DurationMicros(lease)});
  if (!r.ok()) return r.status();
  if (r->empty())
    return absl::AbortedError(absl::StrCat("job ", job_.key, " is no longer held by this worker"));
  job_.lease_token = r->front().Get<int64_t>("lease_token");
  return absl::OkStatus();
}

bool JobContext::stopping() const { return worker_->engine_->stopping(); }

// ---- Worker ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(pg::Pool& pool, WorkerOptions options) {
  if (absl::Status s =
          internal::ValidateQueueOptions("jobs worker", options.table, options.threads, options.batch_size);
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<Worker>(new Worker(pool, std::move(options)));
}

Worker::Worker(pg::Pool& pool, WorkerOptions options)
    : pool_(pool),
      options_(std::move(options)),
      table_(options_.table),
      channel_(JobsChannel(table_)),
      metrics_(options_.metrics != nullptr ? *options_.metrics : kernel::DefaultMetrics()),
      claim_(queries::kClaimJobs, table_),
      complete_(queries::kCompleteJobs, table_),
      complete_one_(queries::kCompleteJob, table_),
      requeue_(queries::kRequeueJob, table_),
      release_(queries::kReleaseJobs, table_),
      reclaim_(queries::kReclaimExpired, table_),
      extend_(queries::kExtendLease, table_),
      prune_(queries::kPruneDone, table_),
      count_due_(queries::kCountDue, table_) {
  // Register the families now so /metrics shows them before the first job.
  internal::JobLagMetric(metrics_);
  internal::JobsTotalMetric(metrics_);
  internal::JobsDueMetric(metrics_).WithLabels({table_});

  internal::EngineOps<Job> ops;
  ops.claim = [this](int limit) { return Claim(limit); };
  ops.process = [this](Job& job) { return Process(job); };
  ops.complete = [this](std::vector<Job>& jobs) { return Complete(jobs); };
  ops.release = [this](std::vector<Job>& jobs) { return Release(jobs); };
  ops.periodic = {
      {"reclaim", options_.reclaim_interval, [this] { return ReclaimExpired(); }},
      {"prune", options_.prune_interval, [this] { return PruneDone(); }},
      {"due_gauge", options_.due_gauge_interval, [this] { return SampleDue(); }},
  };
  engine_ = std::make_unique<internal::Engine<Job>>(
      internal::EngineOptions{.name = table_,
                              .listen_url = options_.listen_url,
                              .channel = channel_,
                              .threads = options_.threads,
                              .batch_size = options_.batch_size,
                              .rescan_interval = options_.rescan_interval,
                              .clock = options_.clock},
      std::move(ops));
}

Worker::~Worker() { Stop(); }

void Worker::Register(std::string kind, JobHandler handler, KindOptions options) {
  if (started_.load()) {
    kernel::LogError("jobs: Register after Start", {{"queue", table_}, {"kind", kind}});
    std::abort();
  }
  Kind entry{std::move(handler), options.retry.value_or(options_.retry)};
  entry.lag = &internal::JobLagMetric(metrics_).WithLabels({kind});
  entry.done = &JobsTotal(kind, "done");
  kinds_[std::move(kind)] = std::move(entry);
}

absl::Status Worker::Start() {
  if (started_.exchange(true)) return absl::FailedPreconditionError("jobs worker: already started");
  return engine_->Start();
}

void Worker::Stop() { engine_->Stop(); }

void Worker::Wake() { engine_->Wake(); }

kernel::CounterChild& Worker::JobsTotal(const std::string& kind, std::string_view result) {
  return internal::JobsTotalMetric(metrics_).WithLabels({kind, result});
}

absl::StatusOr<internal::ClaimBatch<Job>> Worker::Claim(int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(claim_, {limit, DurationMicros(options_.lease)});
  if (!r.ok()) return r.status();
  return internal::DecodeClaim<Job>(
      *r, limit,
      [](const pg::Row& row, absl::Time db_now) {
        Job job;
        job.id = row.Get<int64_t>("id");
        job.kind = row.Get<std::string>("action_type");
        job.key = row.Get<std::string>("job_key");
        job.incident_id = row.GetOptional<int64_t>("incident_id");
        job.run_at = absl::FromUnixMicros(row.Get<int64_t>("run_at_us"));
        job.state = JobState::kRunning;
        job.attempts = row.Get<int32_t>("attempts");
        job.max_attempts = row.Get<int32_t>("max_attempts");
        job.payload_json = row.Get<std::string>("payload_json");
        job.claimed_at = db_now;
        job.lease_token = row.Get<int64_t>("lease_token");
        return job;
      },
      [](const Job& a, const Job& b) { return a.run_at < b.run_at; });
}

bool Worker::Process(Job& job) {
  auto it = kinds_.find(job.kind);
  const double lag = std::max(0.0, absl::ToDoubleSeconds(job.claimed_at - job.run_at));
  if (it != kinds_.end()) {
    it->second.lag->Observe(lag);
  } else {
    internal::JobLagMetric(metrics_).WithLabels({job.kind}).Observe(lag);
  }
  const RetryPolicy& policy = it != kinds_.end() ? it->second.retry : options_.retry;
  absl::Status status;
  if (it == kinds_.end()) {
    status = absl::FailedPreconditionError(absl::StrCat("no handler registered for kind ", job.kind));
  } else {
    JobContext ctx(this, job);
    try {
      status = it->second.handler(ctx);
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
    } catch (...) {
      status = absl::InternalError("handler threw a non-standard exception");
    }
    if (status.ok()) {
      if (ctx.completed_) {
        it->second.done->Inc();
        return false;
      }
      if (ctx.reschedule_at_.has_value() || ctx.reschedule_after_.has_value()) {
        Requeue(job, "pending", ctx.reschedule_at_, ctx.reschedule_after_, /*reset_attempts=*/true, "",
                "rescheduled");
        return false;
      }
      it->second.done->Inc();
      return true;
    }
  }
  const std::string error = ErrorText(status);
  if (IsPermanentError(status) || job.attempts >= job.max_attempts) {
    Requeue(job, "dead", std::nullopt, std::nullopt, false, error, "dead");
    kernel::LogWarn("jobs: job is dead", {{"queue", table_},
                                          {"kind", job.kind},
                                          {"key", job.key},
                                          {"attempts", job.attempts},
                                          {"incident_id", job.incident_id.value_or(0)},
                                          {"error", error}});
  } else {
    const absl::Duration delay = RetryAfterOf(status).value_or(policy.Delay(job.attempts, UniformUnit()));
    Requeue(job, "pending", std::nullopt, delay, false, error, "retry");
    kernel::LogInfo("jobs: job failed; retrying", {{"queue", table_},
                                                   {"kind", job.kind},
                                                   {"key", job.key},
                                                   {"attempts", job.attempts},
                                                   {"retry_in_ms", absl::ToInt64Milliseconds(delay)},
                                                   {"incident_id", job.incident_id.value_or(0)},
                                                   {"error", error}});
  }
  return false;
}

void Worker::Requeue(Job& job, std::string_view state, std::optional<absl::Time> run_at,
                     std::optional<absl::Duration> delay, bool reset_attempts, const std::string& error,
                     std::string_view result) {
  std::optional<int64_t> run_at_us;
  if (run_at.has_value()) run_at_us = absl::ToUnixMicros(*run_at);
  std::optional<int64_t> delay_us;
  if (delay.has_value()) delay_us = DurationMicros(*delay);
  std::optional<std::string> last_error;
  if (!error.empty()) last_error = error;
  absl::StatusOr<pg::Result> r =
      pool_.Execute(requeue_, {job.id, job.lease_token, state, run_at_us, delay_us, reset_attempts,
                               last_error, channel_, DurationMicros(options_.notify_margin)});
  if (!r.ok()) {
    kernel::LogWarn("jobs: recording a job outcome failed; it runs again after its lease",
                    {{"queue", table_}, {"key", job.key}, {"error", std::string(r.status().message())}});
    return;
  }
  if (r->empty()) return;  // cancelled or taken over meanwhile: nothing to record
  JobsTotal(job.kind, result).Inc();
  // This worker learns the new due time directly; NOTIFY (when it was sent) tells the others.
  if (r->front().Get<std::string>("state") == "pending") {
    engine_->DueAt(absl::FromUnixMicros(r->front().Get<int64_t>("run_at_us")));
  }
}

absl::Status Worker::Complete(std::vector<Job>& jobs) {
  std::vector<int64_t> ids, tokens;
  ids.reserve(jobs.size());
  tokens.reserve(jobs.size());
  for (const Job& job : jobs) {
    ids.push_back(job.id);
    tokens.push_back(job.lease_token);
  }
  return pool_.Execute(complete_, {ids, tokens}).status();
}

absl::Status Worker::Release(std::vector<Job>& jobs) {
  std::vector<int64_t> ids, tokens;
  for (const Job& job : jobs) {
    ids.push_back(job.id);
    tokens.push_back(job.lease_token);
  }
  return pool_.Execute(release_, {ids, tokens, channel_}).status();
}

bool Worker::ReclaimExpired() {
  absl::StatusOr<pg::Result> r = pool_.Execute(reclaim_, {kReclaimBatch, channel_});
  if (!r.ok()) return false;
  bool made_due = false;
  for (const pg::Row& row : *r) {
    const std::string state = row.Get<std::string>("state");
    const std::string kind = row.Get<std::string>("action_type");
    JobsTotal(kind, "lease_expired").Inc();
    if (state == "dead") JobsTotal(kind, "dead").Inc();
    made_due = made_due || state == "pending";
  }
  if (!r->empty()) {
    kernel::LogWarn("jobs: reclaimed jobs whose lease expired",
                    {{"queue", table_}, {"jobs", static_cast<int64_t>(r->size())}});
  }
  return made_due;
}

bool Worker::PruneDone() {
  for (int round = 0; round < kMaxPruneRounds && !engine_->stopping(); ++round) {
    absl::StatusOr<pg::Result> r =
        pool_.Execute(prune_, {DurationMicros(options_.keep_done), options_.prune_batch});
    if (!r.ok() || r->affected_rows() < options_.prune_batch) break;
  }
  return false;
}

bool Worker::SampleDue() {
  absl::StatusOr<pg::Result> r = pool_.Execute(count_due_);
  if (r.ok()) {
    internal::JobsDueMetric(metrics_).WithLabels({table_}).Set(
        static_cast<double>(r->front().Get<int64_t>("due")));
  }
  return false;
}

}  // namespace protectogram::jobs
