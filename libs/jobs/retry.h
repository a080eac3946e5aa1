// Retry decisions shared by job handlers, outbox senders and inbox delivery functions.
//
// What an error means (absl codes as the project's STYLE.md defines them):
//   - OK: done.
//   - a *permanent* error: INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, or any status passed through
//     Permanent(): no retry (a job or outbox message goes dead at once, an inbox event is marked ignored).
//   - ALREADY_EXISTS from an outbox sender: the receiver already has it; counts as delivered.
//   - anything else (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, ...): retried after the
//     policy's delay, or after the delay attached with WithRetryAfter.
//   - a status passed through Throttled(): the receiver asked us to wait (a provider's 429 with retry_after,
//     or a message not sendable yet): retried after that delay, and the attempt is not counted, so waiting
//     never makes a message dead.
// A failure may carry a low-cardinality reason label (WithFailureReason: "rate_limited", "blocked", ...) for
// metrics; without one, FailureReasonOf names the status code ("unavailable", "deadline_exceeded", ...).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace protectogram::jobs {

struct RetryPolicy {
  // Explicit delays: the delay after the n-th failed attempt is delays[n-1] (the last one repeats).
  // When empty, the delay is exponential: initial * multiplier^(n-1), capped at `max`.
  std::vector<absl::Duration> delays;
  absl::Duration initial = absl::Seconds(1);
  double multiplier = 2.0;
  absl::Duration max = absl::Minutes(5);
  // Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter] (then capped at `max` again) so that
  // many failures at once do not retry in lockstep.
  double jitter = 0.2;

  // Exponential with jitter: initial, initial*multiplier, ... up to `max`.
  static RetryPolicy Exponential(absl::Duration initial, absl::Duration max, double multiplier = 2.0,
                                 double jitter = 0.2);
  // Exactly these delays, no jitter (e.g. {0s, 5s, 30s} for "retries at 0 s, 5 s, 30 s").
  static RetryPolicy Fixed(std::vector<absl::Duration> delays);

  // The delay after `failed_attempts` (>= 1; smaller values count as 1) failed attempts. `unit` is a uniform
  // random draw in [0, 1) that sets the jitter (0.5 = none). Never negative.
  absl::Duration Delay(int failed_attempts, double unit = 0.5) const;
};

// Marks `status` (not OK) as permanent: retrying cannot help.
absl::Status Permanent(absl::Status status);
// True for the permanent codes and statuses passed through Permanent().
bool IsPermanentError(const absl::Status& status);

// Attaches "retry no sooner than `delay`" to an error (a provider's 429 retry_after). OK stays OK.
absl::Status WithRetryAfter(absl::Status status, absl::Duration delay);
// The delay attached with WithRetryAfter (or Throttled), if any.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

// "Not now, and not a failure": retry after `delay` without counting the attempt. OK stays OK.
absl::Status Throttled(absl::Status status, absl::Duration delay);
bool IsThrottled(const absl::Status& status);

// Attaches a metric label saying why a send failed. OK stays OK.
absl::Status WithFailureReason(absl::Status status, std::string_view reason);
// The label attached with WithFailureReason, else the code's name in snake case ("unavailable"). "" for OK.
std::string FailureReasonOf(const absl::Status& status);

}  // namespace protectogram::jobs
