// Real processes killed with SIGKILL: a scheduled job survives its process and runs exactly once after a
// restart; an outbox relay killed between the receiver's acknowledgement and marking the message sent resends
// it, and the receiver's idempotency key keeps the effect single.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/schema.h"
#include "tests/integration/jobs/jobs_test_util.h"
#include "tests/support/child_process.h"

namespace protectogram::jobs::testing {
namespace {

using namespace std::chrono_literals;
using ::protectogram::testing::ChildProcess;

const std::string kWorkerBinary = JOBS_TEST_WORKER;

class ProcessTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    Exec("CREATE TABLE jobs_test_effects (job_key text NOT NULL, ran_at timestamptz NOT NULL)");
  }
  std::map<std::string, std::string> Env() { return {{"DATABASE_URL", db_url()}}; }
  int64_t Effects(const std::string& key) {
    return QueryInt("SELECT count(*) FROM jobs_test_effects WHERE job_key = '" + key + "'");
  }
};

TEST_F(ProcessTest, AJobDueInFiveSecondsRunsOnceAfterItsProcessIsKilledAndRestarted) {
  const absl::Time t0 = absl::Now();
  int64_t run_at_us = 0;
  {
    ChildProcess first(kWorkerBinary, {"worker", "--schedule=sigkill:1", "--delay-ms=5000"}, Env());
    const std::string scheduled = first.WaitForLine("scheduled ", 10s);
    ASSERT_FALSE(scheduled.empty()) << first.Stdout() << first.Stderr();
    ASSERT_TRUE(absl::SimpleAtoi(scheduled.substr(scheduled.find(' ') + 1), &run_at_us));
    ASSERT_FALSE(first.WaitForLine("ready", 10s).empty()) << first.Stderr();
    std::this_thread::sleep_until(std::chrono::system_clock::now() +
                                  absl::ToChronoMilliseconds(t0 + absl::Seconds(1) - absl::Now()));
    first.Signal(SIGKILL);
    ASSERT_EQ(first.WaitExit(5s), 128 + SIGKILL);
  }
  EXPECT_EQ(QueryText("SELECT state FROM incident.scheduled_actions WHERE job_key = 'sigkill:1'"), "pending");
  EXPECT_EQ(Effects("sigkill:1"), 0);

  ChildProcess second(kWorkerBinary, {"worker"}, Env());
  ASSERT_FALSE(second.WaitForLine("ready", 10s).empty()) << second.Stderr();
  ASSERT_TRUE(WaitFor([&] { return Effects("sigkill:1") == 1; }, absl::Seconds(10))) << second.Stderr();
  const int64_t ran_at_us = QueryInt(
      "SELECT (extract(epoch FROM ran_at) * 1000000)::bigint FROM jobs_test_effects WHERE job_key = "
      "'sigkill:1'");
  EXPECT_GE(ran_at_us, run_at_us);              // not early
  EXPECT_LT(ran_at_us - run_at_us, 1'000'000);  // and not late: the restarted worker's timer
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Effects("sigkill:1"), 1);
  EXPECT_EQ(QueryText("SELECT state FROM incident.scheduled_actions WHERE job_key = 'sigkill:1'"), "done");
  second.Signal(SIGTERM);
  EXPECT_EQ(second.WaitExit(10s), 0) << second.Stderr();
  EXPECT_FALSE(second.WaitForLine("stopped", 1s).empty());
  std::cout << "job ran " << (ran_at_us - run_at_us) / 1000.0 << " ms after its run_at, after a SIGKILL\n";
}

TEST_F(ProcessTest, ARelayKilledBetweenSendAndMarkSentResendsWithoutASecondEffect) {
  absl::StatusOr<std::string> ddl = InboxTableDdl("jobs_test_inbox");
  ASSERT_TRUE(ddl.ok());
  {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->ExecuteScript(pg::Query{"ddl", ddl->c_str()}).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto outbox = *Outbox::Create(db(), {.table = kOutbox});
  {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(*outbox->Enqueue(*txn, {.channel = "test.effect", .idempotency_key = "cmd:1"}));
    ASSERT_TRUE(txn->Commit().ok());
  }
  {
    ChildProcess first(kWorkerBinary, {"outbox", "--crash-after-send", "--lease-ms=1000"}, Env());
    ASSERT_FALSE(first.WaitForLine("sent cmd:1 applied=1", 10s).empty()) << first.Stdout() << first.Stderr();
    first.Signal(SIGKILL);  // acknowledged by the receiver, never marked sent
    ASSERT_EQ(first.WaitExit(5s), 128 + SIGKILL);
  }
  EXPECT_EQ(outbox->Get("cmd:1")->status, OutboxStatus::kPending);
  EXPECT_EQ(Effects("cmd:1"), 1);

  ChildProcess second(kWorkerBinary, {"outbox", "--lease-ms=1000"}, Env());
  ASSERT_FALSE(second.WaitForLine("sent cmd:1 applied=0", 10s).empty()) << second.Stdout() << second.Stderr();
  ASSERT_TRUE(WaitFor([&] { return outbox->Get("cmd:1")->status == OutboxStatus::kSent; }, absl::Seconds(5)));
  EXPECT_EQ(Effects("cmd:1"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM jobs_test_inbox"), 1);
  EXPECT_EQ(outbox->Get("cmd:1")->attempts, 2);
  second.Signal(SIGTERM);
  EXPECT_EQ(second.WaitExit(10s), 0) << second.Stderr();
}

}  // namespace
}  // namespace protectogram::jobs::testing
