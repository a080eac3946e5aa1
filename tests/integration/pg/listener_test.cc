// LISTEN/NOTIFY through pg::Listener against the harness's Postgres.
#include "libs/pg/listener.h"

#include <gtest/gtest.h>

#include <thread>

#include "libs/pg/pool.h"
#include "tests/support/pg_harness.h"

namespace protectogram::pg {
namespace {

class ListenerTest : public test::PgTest {
 protected:
  std::unique_ptr<Listener> MakeListener() {
    absl::StatusOr<std::unique_ptr<Listener>> l =
        Listener::Create(db_url(), ListenerOptions{.reconnect_backoff_initial = absl::Milliseconds(50),
                                                   .reconnect_backoff_max = absl::Milliseconds(300)});
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *std::move(l) : nullptr;
  }

  // Waits until at least one notification arrives or `budget` runs out.
  std::vector<Notification> WaitForNotifications(Listener& l, absl::Duration budget) {
    const absl::Time give_up = absl::Now() + budget;
    while (absl::Now() < give_up) {
      absl::StatusOr<Listener::WaitResult> r = l.Wait(absl::Milliseconds(200));
      if (r.ok() && !r->notifications.empty()) return r->notifications;
    }
    return {};
  }
};

TEST_F(ListenerTest, DeliversNotificationsFromPoolAndFromCommittedTransactions) {
  std::unique_ptr<Listener> listener = MakeListener();
  ASSERT_TRUE(listener->Listen("jobs_due").ok());
  ASSERT_TRUE(listener->Listen("Mixed Case-Channel").ok());
  EXPECT_TRUE(listener->connected());

  ASSERT_TRUE(Notify(pool(), "jobs_due", "42").ok());
  absl::StatusOr<Listener::WaitResult> got = listener->Wait(absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->notifications.size(), 1u);
  EXPECT_EQ(got->notifications[0].channel, "jobs_due");
  EXPECT_EQ(got->notifications[0].payload, "42");
  EXPECT_FALSE(got->interrupted);

  // Inside a transaction: nothing until commit.
  absl::StatusOr<Transaction> txn = pool().Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE(Notify(*txn, "Mixed Case-Channel", "after commit").ok());
  absl::StatusOr<Listener::WaitResult> early = listener->Wait(absl::Milliseconds(200));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_TRUE(early->notifications.empty());
  ASSERT_TRUE(txn->Commit().ok());
  std::vector<Notification> late = WaitForNotifications(*listener, absl::Seconds(5));
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].channel, "Mixed Case-Channel");
  EXPECT_EQ(late[0].payload, "after commit");

  // A channel nobody listens to is not delivered.
  ASSERT_TRUE(Notify(pool(), "other", "x").ok());
  absl::StatusOr<Listener::WaitResult> none = listener->Wait(absl::Milliseconds(200));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->notifications.empty());
}

TEST_F(ListenerTest, InterruptWakesWaitPromptly) {
  std::unique_ptr<Listener> listener = MakeListener();
  ASSERT_TRUE(listener->Listen("quiet").ok());
  absl::StatusOr<Listener::WaitResult> result;
  absl::Duration waited;
  std::thread waiter([&] {
    const absl::Time start = absl::Now();
    result = listener->Wait(absl::Seconds(30));
    waited = absl::Now() - start;
  });
  absl::SleepFor(absl::Milliseconds(100));
  listener->Interrupt();
  waiter.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->interrupted);
  EXPECT_LT(waited, absl::Seconds(2));
  // An Interrupt before Wait makes the next Wait return at once; the one after that waits normally.
  listener->Interrupt();
  const absl::Time start = absl::Now();
  absl::StatusOr<Listener::WaitResult> immediate = listener->Wait(absl::Seconds(30));
  ASSERT_TRUE(immediate.ok());
  EXPECT_TRUE(immediate->interrupted);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  absl::StatusOr<Listener::WaitResult> timed_out = listener->Wait(absl::Milliseconds(100));
  ASSERT_TRUE(timed_out.ok());
  EXPECT_FALSE(timed_out->interrupted);
}

TEST_F(ListenerTest, RelistensAfterPostgresRestarts) {
  std::unique_ptr<Listener> listener = MakeListener();
  ASSERT_TRUE(listener->Listen("jobs_due").ok());
  ASSERT_TRUE(cluster().Stop().ok());
  absl::StatusOr<Listener::WaitResult> lost = listener->Wait(absl::Seconds(5));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable) << lost.status();
  EXPECT_FALSE(listener->connected());
  // While Postgres is down, Wait keeps reporting UNAVAILABLE without spinning and can still be interrupted.
  absl::StatusOr<Listener::WaitResult> down = listener->Wait(absl::Milliseconds(100));
  EXPECT_FALSE(down.ok());
  listener->Interrupt();
  absl::StatusOr<Listener::WaitResult> woken = listener->Wait(absl::Seconds(5));
  EXPECT_TRUE(!woken.ok() || woken->interrupted);

  ASSERT_TRUE(cluster().Start().ok());
  bool resubscribed = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!resubscribed && absl::Now() < give_up) {
    absl::StatusOr<Listener::WaitResult> r = listener->Wait(absl::Milliseconds(200));
    resubscribed = r.ok() && r->resubscribed;
  }
  ASSERT_TRUE(resubscribed);
  EXPECT_TRUE(listener->connected());
  ASSERT_TRUE(Notify(pool(), "jobs_due", "after restart").ok());
  std::vector<Notification> got = WaitForNotifications(*listener, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "after restart");
}

TEST_F(ListenerTest, ListenWhilePostgresIsDownSubscribesOnReconnect) {
  std::unique_ptr<Listener> listener = MakeListener();
  ASSERT_TRUE(cluster().Stop().ok());
  EXPECT_EQ(listener->Listen("later").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(cluster().Start().ok());
  bool resubscribed = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!resubscribed && absl::Now() < give_up) {
    absl::StatusOr<Listener::WaitResult> r = listener->Wait(absl::Milliseconds(200));
    resubscribed = r.ok() && r->resubscribed;
  }
  ASSERT_TRUE(resubscribed);
  ASSERT_TRUE(Notify(pool(), "later", "ok").ok());
  std::vector<Notification> got = WaitForNotifications(*listener, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].channel, "later");
}

TEST(ListenerCreate, RejectsBadUrlAndChannel) {
  EXPECT_EQ(Listener::Create("mysql://x").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Create("postgresql://127.0.0.1:1/x");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)->Listen("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*l)->Listen(std::string(64, 'x')).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protectogram::pg
