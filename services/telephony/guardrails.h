// The guardrails a call passes before it may ring anyone, as pure functions (the service reads the counts
// and applies the verdict in the transaction that records the call):
//   - the number must be E.164 ("+" and 8-15 digits, no leading 0): INVALID_ARGUMENT;
//   - in staging only STAGING_ALLOWED_NUMBERS may be called: PERMISSION_DENIED ("staging_not_allowed");
//   - spend caps: calls and ring minutes per rolling hour and per rolling day. A call counts its ring
//     timeout as ring time until it ends (then its real ring and talk time), so a burst of calls cannot
//     overshoot a cap before any of them ended. RESOURCE_EXHAUSTED names the cap ("spend_cap:calls_per_hour").
// Every refusal carries a reason label (jobs::FailureReasonOf) that becomes the failed outcome's reason.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "libs/kernel/config.h"
#include "libs/providers/common/text.h"

namespace protectogram::telephony {

using providers::IsE164;

// Caps of 0 are off.
struct SpendCaps {
  int64_t calls_per_hour = 0;
  int64_t calls_per_day = 0;
  int64_t ring_minutes_per_hour = 0;
  int64_t ring_minutes_per_day = 0;
};

// What the last hour and day already spent (billable calls only).
struct SpendSoFar {
  int64_t calls_hour = 0;
  int64_t calls_day = 0;
  int64_t ring_seconds_hour = 0;
  int64_t ring_seconds_day = 0;
};

// OK when a new call with this ring timeout fits every cap; else RESOURCE_EXHAUSTED with the reason
// "spend_cap:<cap>" and a message naming the cap and its limit.
absl::Status CheckSpend(const SpendCaps& caps, const SpendSoFar& spent, int64_t ring_timeout_sec);

// INVALID_ARGUMENT ("invalid_number") unless E.164; PERMISSION_DENIED ("staging_not_allowed") in staging for
// a number outside `staging_allowed`.
absl::Status CheckNumber(std::string_view number, kernel::AppEnv app_env,
                         const std::set<std::string>& staging_allowed);

}  // namespace protectogram::telephony
