#include "services/notification/config.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/kernel/log.h"

namespace protectogram::notification {
namespace {

std::string BaseUrl(kernel::ConfigReader& reader, std::string_view name, std::string_view default_value) {
  std::string url = reader.Optional(name, default_value);
  while (absl::EndsWith(url, "/")) url.pop_back();
  if (!absl::StartsWith(url, "https://") && !absl::StartsWith(url, "http://")) {
    reader.AddError(std::string(name) + " must start with https:// or http://");
  }
  return url;
}

}  // namespace

jobs::PaceLimits NotificationConfig::PaceLimits() const {
  jobs::PaceLimits limits;
  if (!pacing) return limits;
  // The longest prefix wins: "tg:<bot>:" (a chat of that bot) over "tg:<bot>" (the bot itself). A split text
  // draws its parts from the bot and 1 from its chat (services/notification/pacing.h).
  for (const providers::telegram::Bot& bot : bots.bots()) {
    (void)limits.Add("tg:" + bot.id, jobs::PaceLimit::PerSecond(telegram_bot_per_second));
    (void)limits.Add("tg:" + bot.id + ":", {.interval = telegram_chat_interval, .burst = 1});
  }
  (void)limits.Add("wa:", jobs::PaceLimit::PerSecond(whatsapp_per_second));
  return limits;
}

absl::StatusOr<NotificationConfig> LoadNotificationConfig(const kernel::Env& env, kernel::AppEnv app_env) {
  kernel::ConfigReader reader(env);
  NotificationConfig config;

  absl::StatusOr<providers::telegram::BotRegistry> bots =
      providers::telegram::BotRegistry::FromEnv(kernel::TelegramVariables(env));
  if (!bots.ok()) {
    reader.AddError(std::string(bots.status().message()));
  } else {
    config.bots = *std::move(bots);
    if (config.bots.bots().empty() && app_env != kernel::AppEnv::kDev) {
      reader.AddError("TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET are required in " +
                      std::string(kernel::AppEnvName(app_env)));
    }
  }
  config.telegram_api_base_url = BaseUrl(reader, "TELEGRAM_API_BASE_URL", config.telegram_api_base_url);
  config.whatsapp_api_base_url = BaseUrl(reader, "WHATSAPP_API_BASE_URL", config.whatsapp_api_base_url);
  config.whatsapp_api_version = reader.Optional("WHATSAPP_API_VERSION", config.whatsapp_api_version);
  config.whatsapp_token = reader.OptionalSecret("WHATSAPP_TOKEN", "");
  config.whatsapp_phone_number_id = reader.Optional("WHATSAPP_PHONE_NUMBER_ID", "");
  if (config.whatsapp_token.empty() != config.whatsapp_phone_number_id.empty()) {
    reader.AddError("WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID go together");
  }
  config.public_base_url = reader.Optional("PUBLIC_BASE_URL", "");
  while (absl::EndsWith(config.public_base_url, "/")) config.public_base_url.pop_back();
  // SetWebhooks registers <PUBLIC_BASE_URL>/webhook/<bot id> with Telegram: without it no bot can be set up.
  if (config.public_base_url.empty() && app_env != kernel::AppEnv::kDev) {
    reader.AddError("PUBLIC_BASE_URL (the edge's public address, for SetWebhooks) is required in " +
                    std::string(kernel::AppEnvName(app_env)));
  }
  config.incident_addr = reader.Optional("INCIDENT_ADDR", config.incident_addr);
  config.operator_chat_id = reader.Optional("OPERATOR_CHAT_ID", "");

  config.pacing = reader.Bool("NOTIFY_PACING", config.pacing);
  config.telegram_bot_per_second =
      static_cast<double>(reader.Int("NOTIFY_TELEGRAM_BOT_PER_SECOND", 30, 1, 100000));
  config.telegram_chat_interval =
      reader.Milliseconds("NOTIFY_TELEGRAM_CHAT_INTERVAL_MS", config.telegram_chat_interval, absl::Hours(1));
  if (config.telegram_chat_interval <= absl::ZeroDuration()) {
    reader.AddError("NOTIFY_TELEGRAM_CHAT_INTERVAL_MS must be above 0");
  }
  config.whatsapp_per_second = static_cast<double>(reader.Int("NOTIFY_WHATSAPP_PER_SECOND", 80, 1, 100000));

  if (std::optional<std::string> delays = env.Get("NOTIFY_RETRY_DELAYS_MS"); delays.has_value()) {
    config.retry_delays.clear();
    for (absl::string_view part : absl::StrSplit(*delays, ',', absl::SkipWhitespace())) {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &ms) || ms < 0 || ms > 3'600'000) {
        reader.AddError(
            "NOTIFY_RETRY_DELAYS_MS must be comma-separated milliseconds such as 0,5000,30000, got \"" +
            *delays + "\"");
        break;
      }
      config.retry_delays.push_back(absl::Milliseconds(ms));
    }
    if (config.retry_delays.empty()) {
      reader.AddError("NOTIFY_RETRY_DELAYS_MS must name at least one delay, such as 0,5000,30000");
    }
  }
  config.edit_wait = reader.Milliseconds("NOTIFY_EDIT_WAIT_MS", config.edit_wait, absl::Minutes(1));
  config.dead_letter_alert_threshold = static_cast<int>(
      reader.Int("NOTIFY_DLQ_ALERT_THRESHOLD", config.dead_letter_alert_threshold, 0, 1000000));
  config.dead_letter_alert_window =
      reader.Milliseconds("NOTIFY_DLQ_ALERT_WINDOW_MS", config.dead_letter_alert_window, absl::Hours(24 * 7));
  config.provider_timeout =
      reader.Milliseconds("NOTIFY_PROVIDER_TIMEOUT_MS", config.provider_timeout, absl::Minutes(5));
  config.lease = reader.Milliseconds("NOTIFY_LEASE_MS", config.lease, absl::Hours(1));
  if (config.lease <= config.provider_timeout * 2) {
    reader.AddError(
        "NOTIFY_LEASE_MS must be more than twice NOTIFY_PROVIDER_TIMEOUT_MS (a send in flight "
        "must never be taken over)");
  }
  config.send_threads = static_cast<int>(reader.Int("NOTIFY_SEND_THREADS", config.send_threads, 1, 256));
  config.keep_sent = reader.Milliseconds("NOTIFY_KEEP_SENT_MS", config.keep_sent, absl::Hours(24 * 90));
  if (absl::Status s = reader.Finish(); !s.ok()) return s;
  return config;
}

}  // namespace protectogram::notification
