#include "services/incident/config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace protectogram::incident {

absl::StatusOr<IncidentConfig> LoadIncidentConfig(const kernel::Env& env, kernel::AppEnv app_env) {
  kernel::ConfigReader reader(env);
  IncidentConfig c;
  c.notification_addr = reader.Optional("NOTIFICATION_ADDR", c.notification_addr);
  c.telephony_addr = reader.Optional("TELEPHONY_ADDR", c.telephony_addr);
  c.feature_panic = reader.Bool("FEATURE_PANIC", c.feature_panic);

  core::Settings& s = c.panic;
  s.total_ring_cap = absl::Seconds(reader.Int("PANIC_RING_CAP_SEC", 180, 10, 3600));
  s.min_ring = absl::Seconds(reader.Int("PANIC_MIN_RING_SEC", 10, 1, 120));
  s.outcome_grace = reader.Milliseconds("PANIC_OUTCOME_GRACE_MS", absl::Seconds(60), absl::Hours(1));
  s.reminder_interval =
      reader.Milliseconds("PANIC_REMINDER_INTERVAL_MS", absl::Seconds(120), absl::Hours(24));
  s.reminder_window = reader.Milliseconds("PANIC_REMINDER_WINDOW_MS", absl::Hours(2), absl::Hours(24 * 7));
  if (s.reminder_interval <= absl::ZeroDuration())
    reader.AddError("PANIC_REMINDER_INTERVAL_MS must be above 0");
  s.operator_chat_id = reader.Optional("OPERATOR_CHAT_ID", "");
  s.operator_bot_id = reader.Optional("OPERATOR_BOT_ID", "main");

  core::Policy& p = c.link_defaults;
  p.ring_timeout = absl::Seconds(reader.Int("LINK_DEFAULT_RING_TIMEOUT_SEC", 25, 5, 120));
  p.max_retries = static_cast<int>(reader.Int("LINK_DEFAULT_MAX_RETRIES", 2, 0, 10));
  p.retry_backoff = absl::Seconds(reader.Int("LINK_DEFAULT_RETRY_BACKOFF_SEC", 60, 0, 3600));

  c.invite_ttl = absl::Hours(reader.Int("INVITE_TTL_HOURS", 24 * 7, 1, 24 * 90));
  c.spam.max_messages = static_cast<int>(reader.Int("CHAT_SPAM_MAX_MESSAGES", 5, 1, 1000));
  c.spam.window = reader.Milliseconds("CHAT_SPAM_WINDOW_MS", absl::Seconds(10), absl::Hours(1));

  if (std::string main = reader.Optional("TELEGRAM_BOT_USERNAME", ""); !main.empty()) {
    c.bot_usernames["main"] = main;
  }
  for (const std::string& name : env.Names()) {
    constexpr absl::string_view kPrefix = "TG_BOT_USERNAME_";
    if (absl::StartsWith(name, kPrefix) && name.size() > kPrefix.size()) {
      c.bot_usernames[absl::AsciiStrToLower(absl::string_view(name).substr(kPrefix.size()))] =
          env.Get(name).value_or("");
    }
  }
  c.staging = app_env == kernel::AppEnv::kStaging;
  for (absl::string_view chat :
       absl::StrSplit(reader.Optional("STAGING_ALLOWED_CHATS", ""), ',', absl::SkipWhitespace())) {
    c.staging_allowed_chats.insert(std::string(absl::StripAsciiWhitespace(chat)));
  }

  c.audit_interval = reader.Milliseconds("INCIDENT_AUDIT_INTERVAL_MS", c.audit_interval, absl::Hours(1));
  c.audit_grace = reader.Milliseconds("INCIDENT_AUDIT_GRACE_MS", c.audit_grace, absl::Hours(1));
  c.rpc_timeout = reader.Milliseconds("INCIDENT_RPC_TIMEOUT_MS", c.rpc_timeout, absl::Minutes(5));
  c.job_lease = reader.Milliseconds("INCIDENT_JOB_LEASE_MS", c.job_lease, absl::Hours(1));
  c.test_call_ring_sec = static_cast<int>(reader.Int("TEST_CALL_RING_SEC", c.test_call_ring_sec, 5, 120));
  if (c.audit_interval <= absl::ZeroDuration()) reader.AddError("INCIDENT_AUDIT_INTERVAL_MS must be above 0");
  if (c.job_lease <= absl::ZeroDuration()) reader.AddError("INCIDENT_JOB_LEASE_MS must be above 0");
  if (absl::Status st = reader.Finish(); !st.ok()) return st;
  return c;
}

}  // namespace protectogram::incident
