// JobStore against the migrated tables: scheduling (once per key, inside a transaction), cancelling by key
// and prefix, redrive, counts, and the table shape the library assumes.
#include "libs/jobs/job_store.h"

#include <gtest/gtest.h>

#include <set>

#include "libs/jobs/schema.h"
#include "tests/integration/jobs/jobs_test_util.h"

namespace protectogram::jobs::testing {
namespace {

class JobStoreTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    auto store = JobStore::Create(db(), {.table = kJobs});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobStoreTest, SchedulingAKeyTwiceIsANoOp) {
  absl::StatusOr<ScheduleResult> first = store_->Schedule({.kind = "cascade_step",
                                                           .key = "incident:1:step:1",
                                                           .delay = absl::Seconds(30),
                                                           .incident_id = 1,
                                                           .payload_json = R"({"step": 1})"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  absl::StatusOr<ScheduleResult> again = store_->Schedule(
      {.kind = "cascade_step", .key = "incident:1:step:1", .delay = absl::Seconds(1), .payload_json = "{}"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->id, first->id);
  absl::StatusOr<Job> job = store_->Get("incident:1:step:1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->payload_json, R"({"step": 1})");  // the first one stands
  EXPECT_EQ(job->state, JobState::kPending);
  EXPECT_EQ(job->incident_id, 1);
  EXPECT_EQ(job->max_attempts, 5);
  EXPECT_GT(job->run_at, absl::Now() + absl::Seconds(20));
}

TEST_F(JobStoreTest, ScheduleCommitsWithTheCallersTransaction) {
  {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(store_->Schedule(*txn, {.kind = "k", .key = "rolled-back"}).ok());
    // destroyed without Commit: rolled back
  }
  EXPECT_EQ(store_->Get("rolled-back").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<pg::Transaction> txn = db().Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(store_->Schedule(*txn, {.kind = "k", .key = "committed"}).ok());
  EXPECT_EQ(store_->Get("committed").status().code(), absl::StatusCode::kNotFound);  // not visible yet
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_TRUE(store_->Get("committed").ok());
}

TEST_F(JobStoreTest, RejectsBadSpecs) {
  EXPECT_EQ(store_->Schedule({.kind = "", .key = "k"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Schedule({.kind = "k", .key = ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Schedule({.kind = "k", .key = "k", .max_attempts = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Schedule({.kind = "k", .key = "k", .payload_json = "{not json"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JobStore::Create(db(), {.table = "x;drop"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, AbsoluteRunAtIsKeptToTheMicrosecond) {
  const absl::Time at = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()) + 123456789);
  ASSERT_TRUE(store_->Schedule({.kind = "k", .key = "abs", .run_at = at}).ok());
  absl::StatusOr<Job> job = store_->Get("abs");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->run_at, at);
}

TEST_F(JobStoreTest, BatchScheduleSkipsExistingAndRepeatedKeys) {
  ASSERT_TRUE(store_->Schedule({.kind = "k", .key = "b:1"}).ok());
  std::vector<JobSpec> specs;
  for (int i = 0; i < 5; ++i) {
    specs.push_back({.kind = "k",
                     .key = "b:" + std::to_string(i),
                     .delay = absl::Seconds(i),
                     .incident_id = i % 2 == 0 ? std::optional<int64_t>(i) : std::nullopt,
                     .payload_json = "{\"i\": \"" + std::to_string(i) + " \\\"q\\\"\"}"});
  }
  specs.push_back({.kind = "k", .key = "b:4"});  // repeated within the batch
  absl::StatusOr<int64_t> created = store_->ScheduleBatch(specs);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, 4);
  absl::StatusOr<Job> j2 = store_->Get("b:2");
  ASSERT_TRUE(j2.ok());
  EXPECT_EQ(j2->incident_id, 2);
  EXPECT_EQ(j2->payload_json, R"({"i": "2 \"q\""})");
  EXPECT_FALSE(store_->Get("b:3")->incident_id.has_value());
}

TEST_F(JobStoreTest, CancelPrefixRemovesPendingWorkOfOneIncidentAndNothingElse) {
  std::vector<JobSpec> specs;
  for (int incident : {42, 420, 4}) {
    for (int step = 0; step < 3; ++step) {
      specs.push_back({.kind = "cascade_step",
                       .key = "incident:" + std::to_string(incident) + ":step:" + std::to_string(step),
                       .delay = absl::Minutes(5),
                       .incident_id = incident});
    }
  }
  specs.push_back({.kind = "reminder", .key = "incident:42:reminder:1", .delay = absl::Minutes(2)});
  specs.push_back({.kind = "x", .key = "incident%42:tricky", .delay = absl::Minutes(2)});
  specs.push_back({.kind = "x", .key = "incident_42:tricky", .delay = absl::Minutes(2)});
  ASSERT_EQ(*store_->ScheduleBatch(specs), 12);
  // A finished job of the incident stays as history.
  Exec("UPDATE incident.scheduled_actions SET state = 'done' WHERE job_key = 'incident:42:step:0'");

  absl::StatusOr<pg::Transaction> txn = db().Begin();
  ASSERT_TRUE(txn.ok());
  absl::StatusOr<int64_t> cancelled = store_->CancelPrefix(*txn, "incident:42:");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(*cancelled, 3);  // steps 1, 2 and the reminder
  ASSERT_TRUE(txn->Commit().ok());

  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE job_key LIKE 'incident:42:%'"),
            1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE job_key LIKE 'incident:420:%'"),
            3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE job_key LIKE 'incident:4:%'"), 3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.scheduled_actions WHERE job_key LIKE '%tricky'"), 2);
  EXPECT_EQ(store_->Get("incident:42:step:0")->state, JobState::kDone);
  EXPECT_EQ(store_->CancelPrefix("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->Cancel("incident:4:step:1"), 1);
  EXPECT_EQ(*store_->Cancel("incident:4:step:1"), 0);
}

TEST_F(JobStoreTest, CancelByPrefixUsesTheIndex) {
  // Enough rows that a sequential scan would be chosen without a usable index.
  std::vector<JobSpec> specs;
  for (int i = 0; i < 3000; ++i) {
    specs.push_back({.kind = "k", .key = "incident:" + std::to_string(i) + ":s", .delay = absl::Hours(1)});
  }
  ASSERT_TRUE(store_->ScheduleBatch(specs).ok());
  Exec("ANALYZE incident.scheduled_actions");
  absl::StatusOr<pg::Result> r =
      db().Execute({"explain",
                    "EXPLAIN DELETE FROM incident.scheduled_actions WHERE job_key LIKE $1 ESCAPE '\\' "
                    "AND state IN ('pending', 'running')"},
                   {std::string("incident:7:%")});
  ASSERT_TRUE(r.ok()) << r.status();
  std::string text;
  for (const pg::Row& row : *r) text += std::string(row.GetView(0)) + "\n";
  EXPECT_NE(text.find("key_prefix_idx"), std::string::npos) << text;
}

TEST_F(JobStoreTest, DeadJobsAreListedCountedAndRedriven) {
  ASSERT_TRUE(store_->Schedule({.kind = "k", .key = "dead:1"}).ok());
  ASSERT_TRUE(store_->Schedule({.kind = "k", .key = "later:1", .delay = absl::Hours(1)}).ok());
  Exec(
      "UPDATE incident.scheduled_actions SET state = 'dead', attempts = 5, last_error = 'boom' "
      "WHERE job_key = 'dead:1'");
  absl::StatusOr<std::vector<Job>> dead = store_->ListDead();
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].key, "dead:1");
  EXPECT_EQ((*dead)[0].last_error, "boom");
  absl::StatusOr<JobCounts> counts = store_->Count();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->dead, 1);
  EXPECT_EQ(counts->pending, 1);
  EXPECT_EQ(counts->due, 0);

  absl::StatusOr<Job> redriven = store_->Redrive((*dead)[0].id);
  ASSERT_TRUE(redriven.ok()) << redriven.status();
  EXPECT_EQ(redriven->state, JobState::kPending);
  EXPECT_EQ(redriven->attempts, 0);
  EXPECT_EQ(store_->Count()->due, 1);
  EXPECT_EQ(store_->Redrive((*dead)[0].id).status().code(), absl::StatusCode::kNotFound);
}

// The library's DDL and the migrations describe the same job table.
TEST_F(JobStoreTest, MigratedJobTablesHaveTheLibrarysShape) {
  Exec("CREATE SCHEMA shape");
  absl::StatusOr<std::string> ddl = JobTableDdl("shape.jobs");
  ASSERT_TRUE(ddl.ok());
  absl::StatusOr<pg::Transaction> txn = db().Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(txn->ExecuteScript(pg::Query{"ddl", ddl->c_str()}).ok());
  ASSERT_TRUE(txn->Commit().ok());
  auto columns = [&](const std::string& schema, const std::string& table) {
    std::set<std::string> out;
    absl::StatusOr<pg::Result> r =
        db().Execute({"columns",
                      "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || "
                      "coalesce(column_default, '') "
                      "FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"},
                     {schema, table});
    EXPECT_TRUE(r.ok());
    for (const pg::Row& row : *r) {
      std::string c = row.Get<std::string>(0);
      // Sequence names differ by table.
      if (c.rfind("id bigint NO nextval", 0) == 0) c = "id bigint NO nextval";
      out.insert(c);
    }
    return out;
  };
  const std::set<std::string> want = columns("shape", "jobs");
  ASSERT_EQ(want.size(), 13u);
  EXPECT_EQ(columns("incident", "scheduled_actions"), want);
  EXPECT_EQ(columns("notification", "jobs"), want);
  EXPECT_EQ(columns("telephony", "jobs"), want);
}

}  // namespace
}  // namespace protectogram::jobs::testing
