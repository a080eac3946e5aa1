#include "services/telephony/guardrails.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/jobs/retry.h"

namespace protectogram::telephony {
namespace {

absl::Status CapReached(std::string_view cap, int64_t limit, std::string_view unit) {
  return jobs::WithFailureReason(
      absl::ResourceExhaustedError(
          absl::StrCat("spend cap reached: ", std::string(cap), " (", limit, " ", std::string(unit), ")")),
      absl::StrCat("spend_cap:", std::string(cap)));
}

}  // namespace

absl::Status CheckSpend(const SpendCaps& caps, const SpendSoFar& spent, int64_t ring_timeout_sec) {
  if (caps.calls_per_hour > 0 && spent.calls_hour + 1 > caps.calls_per_hour) {
    return CapReached("calls_per_hour", caps.calls_per_hour, "calls");
  }
  if (caps.calls_per_day > 0 && spent.calls_day + 1 > caps.calls_per_day) {
    return CapReached("calls_per_day", caps.calls_per_day, "calls");
  }
  if (caps.ring_minutes_per_hour > 0 &&
      spent.ring_seconds_hour + ring_timeout_sec > caps.ring_minutes_per_hour * 60) {
    return CapReached("ring_minutes_per_hour", caps.ring_minutes_per_hour, "minutes");
  }
  if (caps.ring_minutes_per_day > 0 &&
      spent.ring_seconds_day + ring_timeout_sec > caps.ring_minutes_per_day * 60) {
    return CapReached("ring_minutes_per_day", caps.ring_minutes_per_day, "minutes");
  }
  return absl::OkStatus();
}

absl::Status CheckNumber(std::string_view number, kernel::AppEnv app_env,
                         const std::set<std::string>& staging_allowed) {
  if (!IsE164(number)) {
    return jobs::WithFailureReason(
        absl::InvalidArgumentError("to_e164 must be an E.164 number (+ and 8 to 15 digits)"),
        "invalid_number");
  }
  if (app_env == kernel::AppEnv::kStaging && staging_allowed.count(std::string(number)) == 0) {
    return jobs::WithFailureReason(
        absl::PermissionDeniedError("staging calls only the numbers in STAGING_ALLOWED_NUMBERS"),
        "staging_not_allowed");
  }
  return absl::OkStatus();
}

}  // namespace protectogram::telephony
