// The incident service's own settings (README "Configuration"), read once at start with the kernel's
// ConfigReader rules: every problem is reported at once. The production defaults are SPEC §1's; end-to-end
// tests shorten them here (PANIC_*_MS, LINK_DEFAULT_*), never by sleeping through them.
#pragma once

#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kernel/config.h"
#include "services/incident/conversation/conversation.h"
#include "services/incident/core/incident_core.h"

namespace protectogram::incident {

struct IncidentConfig {
  std::string notification_addr = "127.0.0.1:50052";  // NOTIFICATION_ADDR
  std::string telephony_addr = "127.0.0.1:50053";     // TELEPHONY_ADDR
  bool feature_panic = true;                          // FEATURE_PANIC=false: /panic answers "try later"

  // Per incident (core::Settings): PANIC_RING_CAP_SEC, PANIC_MIN_RING_SEC, PANIC_OUTCOME_GRACE_MS,
  // PANIC_REMINDER_INTERVAL_MS, PANIC_REMINDER_WINDOW_MS, OPERATOR_CHAT_ID (+ OPERATOR_BOT_ID).
  core::Settings panic;
  // A new guardian's link policy (member_links; SPEC §1): LINK_DEFAULT_RING_TIMEOUT_SEC,
  // LINK_DEFAULT_MAX_RETRIES, LINK_DEFAULT_RETRY_BACKOFF_SEC.
  core::Policy link_defaults;

  absl::Duration invite_ttl = absl::Hours(24 * 7);  // INVITE_TTL_HOURS
  conversation::Limits spam;                        // CHAT_SPAM_MAX_MESSAGES, CHAT_SPAM_WINDOW_MS
  // The bots' usernames for invite links: TELEGRAM_BOT_USERNAME ("main"), TG_BOT_USERNAME_<ID>; a bot
  // without one is asked of the notification service (ListBots).
  std::map<std::string, std::string> bot_usernames;
  // APP_ENV=staging: only these chats are answered (STAGING_ALLOWED_CHATS, comma-separated); empty = all.
  bool staging = false;
  std::set<std::string> staging_allowed_chats;

  absl::Duration audit_interval = absl::Seconds(5);  // INCIDENT_AUDIT_INTERVAL_MS
  // An open incident is an orphan only after this long without a change (INCIDENT_AUDIT_GRACE_MS): a
  // transaction in flight is never mistaken for one.
  absl::Duration audit_grace = absl::Seconds(2);
  absl::Duration rpc_timeout = absl::Seconds(5);  // INCIDENT_RPC_TIMEOUT_MS: one call to another service
  // INCIDENT_JOB_LEASE_MS: a timer claimed by a replica that died runs again (on another one) after this.
  absl::Duration job_lease = absl::Seconds(60);
  int test_call_ring_sec = 25;  // TEST_CALL_RING_SEC
};

absl::StatusOr<IncidentConfig> LoadIncidentConfig(const kernel::Env& env, kernel::AppEnv app_env);

}  // namespace protectogram::incident
