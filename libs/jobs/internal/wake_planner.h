// When a queue engine should claim (libs/jobs/internal/engine.h). Pure bookkeeping, no I/O and no locking:
// the engine calls it under its mutex with times from its Clock, and unit tests drive it with a FakeClock.
//
// The planner knows:
//   - a *due hint*: there may be claimable rows right now (a notification for a due row, an in-process Wake,
//     a full batch that suggests more, a rescan);
//   - the earliest known future due time, learned from each claim's scan and lowered by notifications;
//   - a safety rescan deadline, pushed out by every successful claim (a claim is a full scan).
// Due times come from the database's clock. Each claim reports the database's now(); the planner keeps the
// offset between that and the local clock, so local timers fire when the database considers a row due even
// when the two clocks disagree.
#pragma once

#include <optional>

#include "absl/time/time.h"

namespace protectogram::jobs::internal {

struct ClaimOutcome {
  absl::Time db_now;                   // the claim statement's now()
  std::optional<absl::Time> next_due;  // earliest future due time (database clock), if any
  bool full_batch = false;             // as many rows as asked for: more may be due
  bool skipped_locked = false;         // due rows were locked by another session; look again shortly
};

class WakePlanner {
 public:
  // How soon to look again when due rows were locked by someone else (their claim or an update that may
  // roll back).
  static constexpr absl::Duration kLockedRecheck = absl::Milliseconds(200);
  static constexpr absl::Duration kFailureBackoffInitial = absl::Milliseconds(100);
  static constexpr absl::Duration kFailureBackoffMax = absl::Seconds(5);

  // Starts with a due hint (the first scan) and the first rescan one interval from `now`.
  WakePlanner(absl::Duration rescan_interval, absl::Time now);

  // Moves time forward: a passed due time or rescan deadline becomes a due hint. Returns due().
  bool Tick(absl::Time now);
  bool due() const { return due_; }
  bool claiming() const { return claiming_; }
  // The local time at which Tick will next have something to do (absl::InfiniteFuture never).
  absl::Time NextWake() const;
  // The earliest known future due time, local clock (absl::InfiniteFuture if none).
  absl::Time next_due() const { return next_due_; }
  // Database time minus local time, as last measured.
  absl::Duration offset() const { return offset_; }

  // Something may be due now (an in-process wake, a notification without a time, a reconnected listener).
  void Woken();
  // A notification that a row is due at `db_due` (database clock).
  void Notified(absl::Time db_due, absl::Time now);

  // A claim starts: consumes the due hint.
  void ClaimStarted();
  // The claim sent at `sent` answered at `received` (local clock).
  void ClaimFinished(const ClaimOutcome& outcome, absl::Time sent, absl::Time received);
  // The claim failed (database unreachable...): retry after a growing back-off rather than spin.
  void ClaimFailed(absl::Time now);

 private:
  absl::Duration rescan_interval_;
  bool due_ = true;
  bool claiming_ = false;
  absl::Time next_due_ = absl::InfiniteFuture();
  absl::Time next_rescan_;
  // Lowest due time notified while a claim was in flight: that claim's scan may not have seen the row.
  absl::Time notified_during_claim_ = absl::InfiniteFuture();
  absl::Duration offset_ = absl::ZeroDuration();
  int failures_ = 0;
};

}  // namespace protectogram::jobs::internal
