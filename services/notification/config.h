// The notification service's own settings (README "Configuration"), read once at start with the kernel's
// ConfigReader rules: every problem is reported at once, secrets never reach a log line.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/jobs/pacing.h"
#include "libs/kernel/config.h"
#include "libs/providers/telegram/telegram.h"

namespace protectogram::notification {

struct NotificationConfig {
  providers::telegram::BotRegistry bots;  // TELEGRAM_BOT_TOKEN ("main"), TG_TOKEN_<ID>
  std::string telegram_api_base_url = "https://api.telegram.org";  // TELEGRAM_API_BASE_URL
  // WHATSAPP_API_BASE_URL, with the Graph API version in it (as .env.example has it).
  std::string whatsapp_api_base_url = "https://graph.facebook.com/v25.0";
  std::string whatsapp_api_version;  // WHATSAPP_API_VERSION: appended when the base URL has none (e.g. v25.0)
  std::string whatsapp_token;        // WHATSAPP_TOKEN
  std::string whatsapp_phone_number_id;           // WHATSAPP_PHONE_NUMBER_ID
  std::string public_base_url;                    // PUBLIC_BASE_URL: where setWebhook points Telegram
  std::string incident_addr = "127.0.0.1:50051";  // INCIDENT_ADDR: where report_to "incident" goes
  std::string operator_chat_id;                   // OPERATOR_CHAT_ID: dead-letter alerts ("" = log only)

  // Pacing (docs/notification.md, "Pacing"). NOTIFY_PACING=false lifts every limit (benchmarks only).
  bool pacing = true;                                        // NOTIFY_PACING
  double telegram_bot_per_second = 30;                       // NOTIFY_TELEGRAM_BOT_PER_SECOND
  absl::Duration telegram_chat_interval = absl::Seconds(1);  // NOTIFY_TELEGRAM_CHAT_INTERVAL_MS
  double whatsapp_per_second = 80;                           // NOTIFY_WHATSAPP_PER_SECOND

  // Retries (docs/notification.md, "Failures"): after 0 s, 5 s, 30 s, then a dead letter.
  std::vector<absl::Duration> retry_delays = {absl::ZeroDuration(), absl::Seconds(5), absl::Seconds(30)};
  // NOTIFY_RETRY_DELAYS_MS: comma-separated
  absl::Duration edit_wait =
      absl::Milliseconds(250);           // NOTIFY_EDIT_WAIT_MS: an edit's recheck of its message
  int dead_letter_alert_threshold = 10;  // NOTIFY_DLQ_ALERT_THRESHOLD: more than this ...
  absl::Duration dead_letter_alert_window = absl::Hours(1);  // NOTIFY_DLQ_ALERT_WINDOW_MS: ... in this window
  absl::Duration provider_timeout = absl::Seconds(10);       // NOTIFY_PROVIDER_TIMEOUT_MS: one API call
  absl::Duration lease = absl::Seconds(60);                  // NOTIFY_LEASE_MS: a send in flight is hidden
  int send_threads = 16;                                     // NOTIFY_SEND_THREADS: provider calls at once
  absl::Duration keep_sent = absl::Hours(24);                // NOTIFY_KEEP_SENT_MS: delivered rows kept

  // The pacing limits by bucket prefix (pacing.h): "tg:<bot>" and "tg:<bot>:<chat>", "wa:".
  jobs::PaceLimits PaceLimits() const;
};

// INVALID_ARGUMENT naming every bad setting. In staging and prod a bot is required.
absl::StatusOr<NotificationConfig> LoadNotificationConfig(const kernel::Env& env, kernel::AppEnv app_env);

}  // namespace protectogram::notification
