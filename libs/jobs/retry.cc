#include "libs/jobs/retry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace protectogram::jobs {
namespace {

constexpr char kPermanentUrl[] = "type.protectogram.dev/jobs.permanent";
constexpr char kRetryAfterUrl[] = "type.protectogram.dev/jobs.retry_after_us";
constexpr char kThrottledUrl[] = "type.protectogram.dev/jobs.throttled";
constexpr char kReasonUrl[] = "type.protectogram.dev/jobs.failure_reason";

}  // namespace

RetryPolicy RetryPolicy::Exponential(absl::Duration initial, absl::Duration max, double multiplier,
                                     double jitter) {
  RetryPolicy p;
  p.initial = initial;
  p.max = max;
  p.multiplier = multiplier;
  p.jitter = jitter;
  return p;
}

RetryPolicy RetryPolicy::Fixed(std::vector<absl::Duration> delays) {
  RetryPolicy p;
  p.delays = std::move(delays);
  p.jitter = 0;
  p.max = absl::InfiniteDuration();
  return p;
}

absl::Duration RetryPolicy::Delay(int failed_attempts, double unit) const {
  const int n = std::max(failed_attempts, 1);
  absl::Duration base;
  if (!delays.empty()) {
    base = delays[std::min<size_t>(static_cast<size_t>(n - 1), delays.size() - 1)];
  } else {
    // multiplier^(n-1) overflows quickly; stop growing once past the cap.
    const double factor = std::pow(std::max(multiplier, 1.0), std::min(n - 1, 62));
    const double seconds = absl::ToDoubleSeconds(initial) * factor;
    base = std::isfinite(seconds) && seconds < absl::ToDoubleSeconds(max) ? absl::Seconds(seconds) : max;
  }
  const double j = std::clamp(jitter, 0.0, 1.0);
  const double scale = 1.0 + j * (2.0 * std::clamp(unit, 0.0, 1.0) - 1.0);
  absl::Duration d = base * scale;
  d = std::min(d, max);
  return std::max(d, absl::ZeroDuration());
}

absl::Status Permanent(absl::Status status) {
  if (!status.ok()) status.SetPayload(kPermanentUrl, absl::Cord("1"));
  return status;
}

bool IsPermanentError(const absl::Status& status) {
  if (status.ok()) return false;
  if (status.GetPayload(kPermanentUrl).has_value()) return true;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

absl::Status WithRetryAfter(absl::Status status, absl::Duration delay) {
  if (!status.ok()) {
    status.SetPayload(
        kRetryAfterUrl,
        absl::Cord(std::to_string(absl::ToInt64Microseconds(std::max(delay, absl::ZeroDuration())))));
  }
  return status;
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterUrl);
  if (!payload.has_value()) return std::nullopt;
  int64_t us = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &us)) return std::nullopt;
  return absl::Microseconds(us);
}

absl::Status Throttled(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  status = WithRetryAfter(std::move(status), delay);
  status.SetPayload(kThrottledUrl, absl::Cord("1"));
  return status;
}

bool IsThrottled(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kThrottledUrl).has_value();
}

absl::Status WithFailureReason(absl::Status status, std::string_view reason) {
  if (!status.ok()) status.SetPayload(kReasonUrl, absl::Cord(std::string(reason)));
  return status;
}

std::string FailureReasonOf(const absl::Status& status) {
  if (status.ok()) return "";
  if (auto payload = status.GetPayload(kReasonUrl); payload.has_value()) return std::string(*payload);
  // "DEADLINE_EXCEEDED" -> "deadline_exceeded"
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

}  // namespace protectogram::jobs
