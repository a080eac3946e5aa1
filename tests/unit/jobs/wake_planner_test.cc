#include "libs/jobs/internal/wake_planner.h"

#include <gtest/gtest.h>

#include "libs/jobs/clock.h"

namespace protectogram::jobs::internal {
namespace {

constexpr absl::Duration kRescan = absl::Seconds(30);

class WakePlannerTest : public ::testing::Test {
 protected:
  // A claim that took `rtt` and saw the database clock `skew` ahead of ours.
  void Claim(std::optional<absl::Duration> next_due_in, bool full = false, bool skipped = false,
             absl::Duration skew = absl::ZeroDuration(), absl::Duration rtt = absl::Milliseconds(2)) {
    planner_.ClaimStarted();
    const absl::Time sent = clock_.Now();
    clock_.Advance(rtt);
    ClaimOutcome outcome;
    outcome.db_now = sent + rtt / 2 + skew;
    if (next_due_in) outcome.next_due = outcome.db_now + *next_due_in;
    outcome.full_batch = full;
    outcome.skipped_locked = skipped;
    planner_.ClaimFinished(outcome, sent, clock_.Now());
  }

  FakeClock clock_;
  WakePlanner planner_{kRescan, clock_.Now()};
};

TEST_F(WakePlannerTest, StartsDueForTheFirstScan) {
  EXPECT_TRUE(planner_.due());
  Claim(std::nullopt);
  EXPECT_FALSE(planner_.due());
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + kRescan);  // nothing pending: only the safety rescan
}

TEST_F(WakePlannerTest, SleepsUntilTheNextDueTimeThenClaims) {
  Claim(absl::Seconds(5));
  EXPECT_FALSE(planner_.due());
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Seconds(5) - absl::Milliseconds(1));
  clock_.Advance(absl::Seconds(4));
  EXPECT_FALSE(planner_.Tick(clock_.Now()));
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(planner_.Tick(clock_.Now()));
}

TEST_F(WakePlannerTest, AFullBatchMeansClaimAgainAtOnce) {
  Claim(absl::Seconds(5), /*full=*/true);
  EXPECT_TRUE(planner_.due());
}

TEST_F(WakePlannerTest, NotificationOfAnEarlierJobMovesTheTimer) {
  Claim(absl::Hours(1));
  const absl::Time far = planner_.NextWake();
  planner_.Notified(clock_.Now() + absl::Seconds(2), clock_.Now());
  EXPECT_LT(planner_.NextWake(), far);
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Seconds(2));
  planner_.Notified(clock_.Now() + absl::Seconds(10), clock_.Now());  // later: no change
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Seconds(2));
  planner_.Notified(clock_.Now() - absl::Milliseconds(1), clock_.Now());  // due already
  EXPECT_TRUE(planner_.due());
}

TEST_F(WakePlannerTest, NotificationDuringAClaimSurvivesItsScan) {
  planner_.ClaimStarted();
  const absl::Time sent = clock_.Now();
  // The claim's snapshot did not include this job; its notification arrives while the claim runs.
  planner_.Notified(clock_.Now() + absl::Seconds(3), clock_.Now());
  clock_.Advance(absl::Milliseconds(2));
  planner_.ClaimFinished({.db_now = sent + absl::Milliseconds(1), .next_due = sent + absl::Hours(1)}, sent,
                         clock_.Now());
  EXPECT_EQ(planner_.NextWake(), sent + absl::Seconds(3));
}

TEST_F(WakePlannerTest, DueNotificationDuringAClaimKeepsTheHint) {
  planner_.ClaimStarted();
  const absl::Time sent = clock_.Now();
  planner_.Woken();
  planner_.ClaimFinished({.db_now = sent, .next_due = std::nullopt}, sent, sent);
  EXPECT_TRUE(planner_.due());
}

TEST_F(WakePlannerTest, FollowsTheDatabaseClockWhenClocksDisagree) {
  // The database runs 10 s ahead: a row due in 5 s of its time is due in 5 s of ours too.
  Claim(absl::Seconds(5), false, false, /*skew=*/absl::Seconds(10));
  EXPECT_EQ(planner_.offset(), absl::Seconds(10));
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Seconds(5) - absl::Milliseconds(1));
  // A notified database time is converted the same way.
  planner_.Notified(clock_.Now() + absl::Seconds(10) + absl::Seconds(1), clock_.Now());
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Seconds(1));
}

TEST_F(WakePlannerTest, LockedRowsAreLookedAtAgainSoon) {
  Claim(absl::Hours(1), false, /*skipped=*/true);
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + WakePlanner::kLockedRecheck);
}

TEST_F(WakePlannerTest, FailuresBackOffInsteadOfSpinning) {
  planner_.ClaimStarted();
  planner_.ClaimFailed(clock_.Now());
  EXPECT_FALSE(planner_.due());
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Milliseconds(100));
  for (int i = 0; i < 10; ++i) {
    planner_.ClaimStarted();
    planner_.ClaimFailed(clock_.Now());
  }
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + WakePlanner::kFailureBackoffMax);
  Claim(std::nullopt);  // success resets
  planner_.ClaimStarted();
  planner_.ClaimFailed(clock_.Now());
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + absl::Milliseconds(100));
}

TEST_F(WakePlannerTest, RescanComesEvenWithoutWork) {
  Claim(std::nullopt);
  clock_.Advance(kRescan - absl::Milliseconds(1));
  EXPECT_FALSE(planner_.Tick(clock_.Now()));
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(planner_.Tick(clock_.Now()));
  EXPECT_EQ(planner_.NextWake(), clock_.Now() + kRescan);
}

}  // namespace
}  // namespace protectogram::jobs::internal
