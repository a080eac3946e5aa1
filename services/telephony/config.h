// The telephony service's own settings (README "Configuration"), read once at start with the kernel's
// ConfigReader rules: every problem is reported at once, secrets never reach a log line. Each provider reads
// its own variables (providers.h); this is what the service itself needs.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kernel/config.h"
#include "services/telephony/guardrails.h"

namespace protectogram::telephony {

struct TelephonyConfig {
  kernel::AppEnv app_env = kernel::AppEnv::kDev;
  // TELEPHONY_PROVIDERS: the failover order ("telnyx,twilio,ari"). Unset: every provider whose credentials
  // are set, in that order.
  std::vector<std::string> providers;
  std::string public_base_url;                    // PUBLIC_BASE_URL: where providers send events
  std::string incident_addr = "127.0.0.1:50051";  // INCIDENT_ADDR: where report_to "incident" goes
  std::set<std::string> staging_allowed_numbers;  // STAGING_ALLOWED_NUMBERS: comma-separated E.164

  SpendCaps caps{.calls_per_hour = 60,          // TELEPHONY_MAX_CALLS_PER_HOUR
                 .calls_per_day = 300,          // TELEPHONY_MAX_CALLS_PER_DAY
                 .ring_minutes_per_hour = 60,   // TELEPHONY_MAX_RING_MINUTES_PER_HOUR
                 .ring_minutes_per_day = 300};  // TELEPHONY_MAX_RING_MINUTES_PER_DAY

  int default_ring_timeout_sec = 25;  // TELEPHONY_RING_TIMEOUT_SEC (5..600)
  // TELEPHONY_RING_GRACE_MS: our own deadline comes this long after the provider's ring timeout, in case the
  // provider's hangup event is lost.
  absl::Duration ring_grace = absl::Seconds(10);
  absl::Duration provider_timeout = absl::Seconds(5);  // TELEPHONY_PROVIDER_TIMEOUT_MS: one API request
  // TELEPHONY_JOB_LEASE_MS: a dial whose process died mid-request is retried after this.
  absl::Duration job_lease = absl::Seconds(30);
  // TELEPHONY_DEFAULT_TEXT / TELEPHONY_DEFAULT_LANGUAGE: the prompt of a call placed without text (the REST
  // API, a test call).
  std::string default_text = "This is a Protectogram test call. Press 1 to confirm.";
  std::string default_language = "en-US";
  int worker_threads = 4;  // TELEPHONY_WORKER_THREADS: dials and commands in flight
};

// INVALID_ARGUMENT naming every bad setting.
absl::StatusOr<TelephonyConfig> LoadTelephonyConfig(const kernel::Env& env, kernel::AppEnv app_env);

// "ru" -> "ru-RU", "en" -> "en-US", "ru-RU" stays; "" -> `fallback`.
std::string NormalizeLanguage(std::string_view language, std::string_view fallback);

}  // namespace protectogram::telephony
