// jobs::Worker against a real Postgres: exactly-once draining by competing workers, wake-up latency, leases,
// retries with back-off, dead jobs and redrive, rescheduling, completion inside the handler's transaction,
// clean stop and pruning.
#include "libs/jobs/worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "libs/jobs/internal/metrics.h"
#include "libs/jobs/job_store.h"
#include "tests/integration/jobs/jobs_test_util.h"

namespace protectogram::jobs::testing {
namespace {

constexpr pg::Query kCountEffect{"test_count_effect", R"sql(
INSERT INTO effect_counts (job_key, runs) VALUES ($1, 1)
ON CONFLICT (job_key) DO UPDATE SET runs = effect_counts.runs + 1)sql"};

class WorkerTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    Exec("CREATE TABLE effect_counts (job_key text PRIMARY KEY, runs integer NOT NULL)");
    auto store = JobStore::Create(db(), {.table = kJobs});
    ASSERT_TRUE(store.ok());
    store_ = *std::move(store);
  }

  WorkerOptions Options() {
    return WorkerOptions{.table = kJobs, .listen_url = db_url(), .threads = 2, .metrics = &metrics_};
  }
  std::unique_ptr<Worker> NewWorker(WorkerOptions options, pg::Pool* pool = nullptr) {
    auto worker = Worker::Create(pool != nullptr ? *pool : db(), std::move(options));
    EXPECT_TRUE(worker.ok()) << worker.status();
    return *std::move(worker);
  }
  std::string State(const std::string& key) {
    absl::StatusOr<Job> job = store_->Get(key);
    return job.ok() ? std::string(Name(job->state)) : "missing";
  }

  std::unique_ptr<JobStore> store_;
};

TEST_F(WorkerTest, FourWorkersDrainTenThousandJobsEachExactlyOnce) {
  constexpr int kJobCount = 10000;
  for (int chunk = 0; chunk < kJobCount; chunk += 2500) {
    std::vector<JobSpec> specs;
    for (int i = chunk; i < chunk + 2500; ++i)
      specs.push_back({.kind = "drain", .key = "d:" + std::to_string(i)});
    ASSERT_EQ(*store_->ScheduleBatch(specs), 2500);
  }
  std::vector<std::unique_ptr<pg::Pool>> pools;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::atomic<int>> ran(4);
  for (int w = 0; w < 4; ++w) {
    pools.push_back(*pg::Pool::Create({.url = db_url(), .size = 4}));
    WorkerOptions options = Options();
    options.batch_size = 50;
    workers.push_back(NewWorker(options, pools.back().get()));
    pg::Pool* pool = pools.back().get();
    std::atomic<int>* count = &ran[w];
    workers.back()->Register("drain", [pool, count](JobContext& ctx) {
      count->fetch_add(1);
      return pool->Execute(kCountEffect, {ctx.job().key}).status();
    });
  }
  const absl::Time start = absl::Now();
  for (auto& worker : workers) ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE state = 'done'") == kJobCount;
      },
      absl::Seconds(40)));
  const absl::Duration took = absl::Now() - start;
  for (auto& worker : workers) worker->Stop();

  EXPECT_EQ(QueryInt("SELECT count(*) FROM effect_counts"), kJobCount);
  EXPECT_EQ(QueryInt("SELECT max(runs) FROM effect_counts"), 1);
  EXPECT_EQ(
      QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE state <> 'done' OR attempts <> 1"), 0);
  int total = 0;
  for (int w = 0; w < 4; ++w) {
    EXPECT_GT(ran[w].load(), 0) << "worker " << w << " got nothing";
    total += ran[w].load();
  }
  EXPECT_EQ(total, kJobCount);
  EXPECT_EQ(internal::JobsTotalMetric(metrics_).WithLabels({"drain", "done"}).Value(), kJobCount);
  EXPECT_EQ(internal::JobLagMetric(metrics_).WithLabels({"drain"}).Count(), static_cast<uint64_t>(kJobCount));
  std::cout << "drained " << kJobCount << " jobs with 4 workers in " << absl::FormatDuration(took) << " ("
            << ran[0] << "/" << ran[1] << "/" << ran[2] << "/" << ran[3] << ")\n";
}

TEST_F(WorkerTest, AJobSoonerThanEveryOtherWakesTheWorkerWithinMilliseconds) {
  std::mutex mu;
  std::map<std::string, absl::Time> ran_at;
  auto ran = [&](const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    return ran_at.contains(key);
  };
  std::unique_ptr<Worker> worker = NewWorker(Options());
  worker->Register("ping", [&](JobContext& ctx) {
    std::lock_guard<std::mutex> lock(mu);
    ran_at[ctx.job().key] = absl::Now();
    return absl::OkStatus();
  });
  ASSERT_TRUE(store_->Schedule({.kind = "ping", .key = "far", .delay = absl::Hours(1)}).ok());
  ASSERT_TRUE(worker->Start().ok());
  // Let the worker scan and set its timer for the far job.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // Scheduled from another connection, no in-process Wake(): only NOTIFY can wake the worker.
  std::unique_ptr<pg::Pool> other = *pg::Pool::Create({.url = db_url(), .size = 1});
  auto other_store = *JobStore::Create(*other, {.table = kJobs});
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(other_store->Schedule({.kind = "ping", .key = "now"}).ok());
  ASSERT_TRUE(WaitFor([&] { return ran("now"); }, absl::Seconds(5)));
  const absl::Duration wake = ran_at["now"] - t0;
  EXPECT_LT(wake, absl::Milliseconds(500));

  // A job due in 400 ms: announced with its time, so the worker's timer fires for it.
  const absl::Time t1 = absl::Now();
  ASSERT_TRUE(other_store->Schedule({.kind = "ping", .key = "soon", .delay = absl::Milliseconds(400)}).ok());
  ASSERT_TRUE(WaitFor([&] { return ran("soon"); }, absl::Seconds(5)));
  const absl::Time run_at = store_->Get("soon")->run_at;
  EXPECT_GE(ran_at["soon"], run_at);
  EXPECT_LT(ran_at["soon"] - run_at, absl::Milliseconds(300));
  EXPECT_GE(ran_at["soon"] - t1, absl::Milliseconds(390));
  EXPECT_EQ(State("far"), "pending");
  std::cout << "wake-up after schedule: " << absl::FormatDuration(wake) << "; timer fired "
            << absl::FormatDuration(ran_at["soon"] - run_at) << " after run_at\n";
  worker->Stop();
}

TEST_F(WorkerTest, AnExpiredLeaseReturnsTheJobToTheQueue) {
  ASSERT_TRUE(store_->Schedule({.kind = "effect", .key = "orphan"}).ok());
  // Claimed by a worker that died: running, its lease about to pass.
  Exec(
      "UPDATE incident.scheduled_actions SET state = 'running', attempts = 1, "
      "lease_until = now() + interval '300 milliseconds' WHERE job_key = 'orphan'");
  WorkerOptions options = Options();
  options.reclaim_interval = absl::Milliseconds(100);
  std::unique_ptr<Worker> worker = NewWorker(options);
  std::atomic<int> runs{0};
  std::atomic<int> attempts{0};
  worker->Register("effect", [&](JobContext& ctx) {
    attempts = ctx.job().attempts;
    ++runs;
    return absl::OkStatus();
  });
  const absl::Time start = absl::Now();
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return State("orphan") == "done"; }, absl::Seconds(5)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));  // not before the lease passed
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(attempts.load(), 2);
  EXPECT_EQ(internal::JobsTotalMetric(metrics_).WithLabels({"effect", "lease_expired"}).Value(), 1);
  worker->Stop();
}

TEST_F(WorkerTest, FailuresRetryWithBackoffThenGoDeadAndCanBeRedriven) {
  struct Run {
    int attempts;
    absl::Time run_at;
    absl::Time claimed_at;
  };
  std::mutex mu;
  std::vector<Run> runs;
  std::atomic<bool> fail{true};
  std::unique_ptr<Worker> worker = NewWorker(Options());
  worker->Register(
      "flaky",
      [&](JobContext& ctx) {
        std::lock_guard<std::mutex> lock(mu);
        runs.push_back({ctx.job().attempts, ctx.job().run_at, ctx.job().claimed_at});
        return fail ? absl::UnavailableError("provider down") : absl::OkStatus();
      },
      {.retry = RetryPolicy::Exponential(absl::Milliseconds(100), absl::Seconds(1), 2.0, /*jitter=*/0)});
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_->Schedule({.kind = "flaky", .key = "flaky:1", .max_attempts = 4}).ok());
  ASSERT_TRUE(WaitFor([&] { return State("flaky:1") == "dead"; }, absl::Seconds(10)));
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(runs.size(), 4u);
    const absl::Duration delays[] = {absl::Milliseconds(100), absl::Milliseconds(200),
                                     absl::Milliseconds(400)};
    for (size_t i = 1; i < runs.size(); ++i) {
      EXPECT_EQ(runs[i].attempts, static_cast<int>(i + 1));
      // run_at = the failure time + the policy's delay; the failure comes right after the claim.
      const absl::Duration gap = runs[i].run_at - runs[i - 1].claimed_at;
      EXPECT_GE(gap, delays[i - 1]) << i;
      EXPECT_LT(gap, delays[i - 1] + absl::Milliseconds(300)) << i;
      EXPECT_GE(runs[i].claimed_at, runs[i].run_at);
    }
  }
  absl::StatusOr<Job> dead = store_->Get("flaky:1");
  EXPECT_EQ(dead->attempts, 4);
  EXPECT_NE(dead->last_error.find("provider down"), std::string::npos);
  EXPECT_EQ(internal::JobsTotalMetric(metrics_).WithLabels({"flaky", "retry"}).Value(), 3);
  EXPECT_EQ(internal::JobsTotalMetric(metrics_).WithLabels({"flaky", "dead"}).Value(), 1);

  fail = false;
  ASSERT_TRUE(store_->Redrive(dead->id).ok());
  ASSERT_TRUE(WaitFor([&] { return State("flaky:1") == "done"; }, absl::Seconds(5)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs.back().attempts, 1);
  worker->Stop();
}

TEST_F(WorkerTest, APermanentErrorGoesDeadAtOnce) {
  std::unique_ptr<Worker> worker = NewWorker(Options());
  std::atomic<int> runs{0};
  worker->Register("bad", [&](JobContext&) {
    ++runs;
    return absl::InvalidArgumentError("payload has no incident");
  });
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_->Schedule({.kind = "bad", .key = "bad:1"}).ok());
  ASSERT_TRUE(WaitFor([&] { return State("bad:1") == "dead"; }, absl::Seconds(5)));
  EXPECT_EQ(runs.load(), 1);
  worker->Stop();
}

TEST_F(WorkerTest, AHandlerCanRescheduleItsJob) {
  std::unique_ptr<Worker> worker = NewWorker(Options());
  std::mutex mu;
  std::vector<std::pair<int, absl::Time>> runs;  // attempts, local time
  worker->Register("reminder", [&](JobContext& ctx) {
    std::lock_guard<std::mutex> lock(mu);
    runs.emplace_back(ctx.job().attempts, absl::Now());
    if (runs.size() < 3) ctx.RescheduleAfter(absl::Milliseconds(200));
    return absl::OkStatus();
  });
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_->Schedule({.kind = "reminder", .key = "reminder:1"}).ok());
  ASSERT_TRUE(WaitFor([&] { return State("reminder:1") == "done"; }, absl::Seconds(5)));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(runs.size(), 3u);
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].first, 1);  // a reschedule is not a failure
    EXPECT_GE(runs[i].second - runs[i - 1].second, absl::Milliseconds(195));
  }
  EXPECT_EQ(internal::JobsTotalMetric(metrics_).WithLabels({"reminder", "rescheduled"}).Value(), 2);
  worker->Stop();
}

TEST_F(WorkerTest, CompleteInCommitsTheEffectWithTheJobAndRefusesACancelledJob) {
  std::unique_ptr<Worker> worker = NewWorker(Options());
  std::atomic<int> aborted{0};
  worker->Register("txn", [&](JobContext& ctx) -> absl::Status {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    if (!txn.ok()) return txn.status();
    if (auto r = txn->Execute(kCountEffect, {ctx.job().key}); !r.ok()) return r.status();
    if (ctx.job().key == "txn:cancelled") {
      // The incident was acknowledged meanwhile: its jobs are cancelled under our feet.
      if (absl::StatusOr<int64_t> n = store_->Cancel(ctx.job().key); !n.ok() || *n != 1) {
        return absl::InternalError("cancel failed");
      }
    }
    if (absl::Status s = ctx.CompleteIn(*txn); !s.ok()) {
      if (s.code() == absl::StatusCode::kAborted) ++aborted;
      return s;  // rolls the effect back
    }
    return txn->Commit();
  });
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_->Schedule({.kind = "txn", .key = "txn:ok"}).ok());
  ASSERT_TRUE(store_->Schedule({.kind = "txn", .key = "txn:cancelled"}).ok());
  ASSERT_TRUE(WaitFor([&] { return State("txn:ok") == "done" && aborted.load() == 1; }, absl::Seconds(5)));
  worker->Stop();
  EXPECT_EQ(QueryInt("SELECT runs FROM effect_counts WHERE job_key = 'txn:ok'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM effect_counts WHERE job_key = 'txn:cancelled'"), 0);
  EXPECT_EQ(State("txn:cancelled"), "missing");
}

TEST_F(WorkerTest, StopFinishesTheRunningJobAndReleasesClaimedOnes) {
  WorkerOptions options = Options();
  options.threads = 1;
  options.batch_size = 10;
  std::unique_ptr<Worker> worker = NewWorker(options);
  std::atomic<int> started{0};
  worker->Register("slow", [&](JobContext&) {
    ++started;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return absl::OkStatus();
  });
  std::vector<JobSpec> specs;
  for (int i = 0; i < 5; ++i) specs.push_back({.kind = "slow", .key = "slow:" + std::to_string(i)});
  ASSERT_EQ(*store_->ScheduleBatch(specs), 5);
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return started.load() == 1; }, absl::Seconds(5)));
  worker->Stop();
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE state = 'done'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.scheduled_actions "
                     "WHERE state = 'pending' AND attempts = 0 AND lease_until IS NULL"),
            4);
}

TEST_F(WorkerTest, DoneRowsArePrunedAfterTheirRetention) {
  WorkerOptions options = Options();
  options.keep_done = absl::ZeroDuration();
  options.prune_interval = absl::Milliseconds(100);
  std::unique_ptr<Worker> worker = NewWorker(options);
  worker->Register("noop", [](JobContext&) { return absl::OkStatus(); });
  ASSERT_TRUE(worker->Start().ok());
  std::vector<JobSpec> specs;
  for (int i = 0; i < 20; ++i) specs.push_back({.kind = "noop", .key = "noop:" + std::to_string(i)});
  ASSERT_EQ(*store_->ScheduleBatch(specs), 20);
  ASSERT_TRUE(store_->Schedule({.kind = "noop", .key = "later", .delay = absl::Hours(1)}).ok());
  ASSERT_TRUE(WaitFor([&] { return QueryInt("SELECT count(*) FROM incident.scheduled_actions") == 1; },
                      absl::Seconds(5)));
  EXPECT_EQ(State("later"), "pending");
  worker->Stop();
}

TEST_F(WorkerTest, AnUnknownKindIsRetriedNotLost) {
  WorkerOptions options = Options();
  options.retry = RetryPolicy::Fixed({absl::Hours(1)});
  std::unique_ptr<Worker> worker = NewWorker(options);
  worker->Register("known", [](JobContext&) { return absl::OkStatus(); });
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_->Schedule({.kind = "unknown", .key = "u:1"}).ok());
  ASSERT_TRUE(WaitFor([&] { return store_->Get("u:1")->attempts == 1 && State("u:1") == "pending"; },
                      absl::Seconds(5)));
  EXPECT_NE(store_->Get("u:1")->last_error.find("no handler registered"), std::string::npos);
  worker->Stop();
}

TEST_F(WorkerTest, KeepsWorkingAcrossAPostgresRestart) {
  WorkerOptions options = Options();
  options.rescan_interval = absl::Seconds(1);
  std::unique_ptr<Worker> worker = NewWorker(options);
  std::atomic<int> runs{0};
  worker->Register("effect", [&](JobContext&) {
    ++runs;
    return absl::OkStatus();
  });
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_->Schedule({.kind = "effect", .key = "before"}).ok());
  ASSERT_TRUE(WaitFor([&] { return runs.load() == 1; }, absl::Seconds(5)));
  ASSERT_TRUE(cluster().Stop().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(cluster().Start().ok());
  // The listener reconnects (and rescans); a job scheduled now is found without a Wake().
  ASSERT_TRUE(
      WaitFor([&] { return store_->Schedule({.kind = "effect", .key = "after"}).ok(); }, absl::Seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return runs.load() == 2; }, absl::Seconds(10)));
  worker->Stop();
}

}  // namespace
}  // namespace protectogram::jobs::testing
