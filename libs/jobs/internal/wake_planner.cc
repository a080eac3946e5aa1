#include "libs/jobs/internal/wake_planner.h"

#include <algorithm>

namespace protectogram::jobs::internal {

WakePlanner::WakePlanner(absl::Duration rescan_interval, absl::Time now)
    : rescan_interval_(rescan_interval), next_rescan_(now + rescan_interval) {}

bool WakePlanner::Tick(absl::Time now) {
  if (now >= next_due_) {
    due_ = true;
    next_due_ = absl::InfiniteFuture();  // the claim that follows learns the next one
  }
  if (now >= next_rescan_) {
    due_ = true;
    next_rescan_ = now + rescan_interval_;
  }
  return due_;
}

absl::Time WakePlanner::NextWake() const { return std::min(next_due_, next_rescan_); }

void WakePlanner::Woken() { due_ = true; }

void WakePlanner::Notified(absl::Time db_due, absl::Time now) {
  const absl::Time local = db_due - offset_;
  if (local <= now) {
    due_ = true;
  } else {
    next_due_ = std::min(next_due_, local);
  }
  if (claiming_) notified_during_claim_ = std::min(notified_during_claim_, local);
}

void WakePlanner::ClaimStarted() {
  due_ = false;
  claiming_ = true;
  notified_during_claim_ = absl::InfiniteFuture();
}

void WakePlanner::ClaimFinished(const ClaimOutcome& outcome, absl::Time sent, absl::Time received) {
  claiming_ = false;
  failures_ = 0;
  offset_ = outcome.db_now - (sent + (received - sent) / 2);
  absl::Time next = outcome.next_due.has_value() ? *outcome.next_due - offset_ : absl::InfiniteFuture();
  if (outcome.skipped_locked) next = std::min(next, received + kLockedRecheck);
  // The scan is authoritative for what it saw; rows notified during it may have committed after its snapshot.
  next_due_ = std::min(next, notified_during_claim_);
  if (next_due_ <= received) due_ = true;
  if (outcome.full_batch) due_ = true;
  next_rescan_ = received + rescan_interval_;
}

void WakePlanner::ClaimFailed(absl::Time now) {
  claiming_ = false;
  ++failures_;
  const int exponent = std::min(failures_ - 1, 16);
  const absl::Duration backoff = std::min(kFailureBackoffMax, kFailureBackoffInitial * (1 << exponent));
  due_ = false;
  next_due_ = now + backoff;  // the retry is a full scan: it finds whatever was known or notified
}

}  // namespace protectogram::jobs::internal
