#include "services/notification/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "libs/jobs/pacing.h"
#include "services/notification/outgoing.h"

namespace protectogram::notification {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::map<std::string, std::string> WithBot(std::map<std::string, std::string> env = {}) {
  env.emplace("TELEGRAM_BOT_TOKEN", "111:AAA");
  env.emplace("TELEGRAM_WEBHOOK_SECRET", "secret_1");
  return env;
}

NotificationConfig Load(const std::map<std::string, std::string>& env,
                        kernel::AppEnv app_env = kernel::AppEnv::kDev) {
  absl::StatusOr<NotificationConfig> config = LoadNotificationConfig(kernel::MapEnv(env), app_env);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : NotificationConfig{};
}

// The INVALID_ARGUMENT message of a refused configuration.
std::string ErrorOf(const std::map<std::string, std::string>& env,
                    kernel::AppEnv app_env = kernel::AppEnv::kDev) {
  absl::StatusOr<NotificationConfig> config = LoadNotificationConfig(kernel::MapEnv(env), app_env);
  EXPECT_FALSE(config.ok());
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(NotificationConfigTest, Defaults) {
  const NotificationConfig c = Load({});
  EXPECT_THAT(c.bots.bots(), IsEmpty());
  EXPECT_EQ(c.telegram_api_base_url, "https://api.telegram.org");
  EXPECT_EQ(c.whatsapp_token, "");
  EXPECT_EQ(c.whatsapp_phone_number_id, "");
  EXPECT_EQ(c.public_base_url, "");
  EXPECT_EQ(c.incident_addr, "127.0.0.1:50051");
  EXPECT_EQ(c.operator_chat_id, "");
  EXPECT_TRUE(c.pacing);
  EXPECT_EQ(c.telegram_bot_per_second, 30);
  EXPECT_EQ(c.telegram_chat_interval, absl::Seconds(1));
  EXPECT_EQ(c.whatsapp_per_second, 80);
  EXPECT_THAT(c.retry_delays, ElementsAre(absl::ZeroDuration(), absl::Seconds(5), absl::Seconds(30)));
  EXPECT_EQ(c.edit_wait, absl::Milliseconds(250));
  EXPECT_EQ(c.dead_letter_alert_threshold, 10);
  EXPECT_EQ(c.dead_letter_alert_window, absl::Hours(1));
  EXPECT_EQ(c.provider_timeout, absl::Seconds(10));
  EXPECT_EQ(c.lease, absl::Seconds(60));
  EXPECT_GT(c.lease, 2 * c.provider_timeout);
  EXPECT_EQ(c.send_threads, 16);
  EXPECT_EQ(c.keep_sent, absl::Hours(24));
}

TEST(NotificationConfigTest, ReadsEverySetting) {
  const NotificationConfig c = Load(WithBot({
      {"TG_TOKEN_OPS", "222:BBB"},
      {"TG_WEBHOOK_SECRET_OPS", "secret_2"},
      {"TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081//"},
      {"WHATSAPP_API_BASE_URL", "http://127.0.0.1:9000/"},
      {"WHATSAPP_API_VERSION", "v25.0"},
      {"WHATSAPP_TOKEN", "wa-token"},
      {"WHATSAPP_PHONE_NUMBER_ID", "106540352242922"},
      {"PUBLIC_BASE_URL", "https://example.org/"},
      {"INCIDENT_ADDR", "incident:50051"},
      {"OPERATOR_CHAT_ID", "-100777"},
      {"NOTIFY_PACING", "off"},
      {"NOTIFY_TELEGRAM_BOT_PER_SECOND", "20"},
      {"NOTIFY_TELEGRAM_CHAT_INTERVAL_MS", "1500"},
      {"NOTIFY_WHATSAPP_PER_SECOND", "40"},
      {"NOTIFY_RETRY_DELAYS_MS", "0, 1000,2500 ,60000"},
      {"NOTIFY_EDIT_WAIT_MS", "100"},
      {"NOTIFY_DLQ_ALERT_THRESHOLD", "3"},
      {"NOTIFY_DLQ_ALERT_WINDOW_MS", "600000"},
      {"NOTIFY_PROVIDER_TIMEOUT_MS", "2000"},
      {"NOTIFY_LEASE_MS", "4001"},
      {"NOTIFY_SEND_THREADS", "4"},
      {"NOTIFY_KEEP_SENT_MS", "3600000"},
  }));
  ASSERT_EQ(c.bots.bots().size(), 2u);
  EXPECT_NE(c.bots.Find("main"), nullptr);
  ASSERT_NE(c.bots.Find("ops"), nullptr);
  EXPECT_EQ(c.bots.Find("ops")->token, "222:BBB");
  EXPECT_EQ(c.telegram_api_base_url, "http://127.0.0.1:8081");
  EXPECT_EQ(c.whatsapp_api_base_url, "http://127.0.0.1:9000");
  EXPECT_EQ(c.whatsapp_api_version, "v25.0");
  EXPECT_EQ(c.whatsapp_token, "wa-token");
  EXPECT_EQ(c.whatsapp_phone_number_id, "106540352242922");
  EXPECT_EQ(c.public_base_url, "https://example.org");
  EXPECT_EQ(c.incident_addr, "incident:50051");
  EXPECT_EQ(c.operator_chat_id, "-100777");
  EXPECT_FALSE(c.pacing);
  EXPECT_EQ(c.telegram_bot_per_second, 20);
  EXPECT_EQ(c.telegram_chat_interval, absl::Milliseconds(1500));
  EXPECT_EQ(c.whatsapp_per_second, 40);
  EXPECT_THAT(c.retry_delays, ElementsAre(absl::ZeroDuration(), absl::Seconds(1), absl::Milliseconds(2500),
                                          absl::Minutes(1)));
  EXPECT_EQ(c.edit_wait, absl::Milliseconds(100));
  EXPECT_EQ(c.dead_letter_alert_threshold, 3);
  EXPECT_EQ(c.dead_letter_alert_window, absl::Minutes(10));
  EXPECT_EQ(c.provider_timeout, absl::Seconds(2));
  EXPECT_EQ(c.lease, absl::Milliseconds(4001));
  EXPECT_EQ(c.send_threads, 4);
  EXPECT_EQ(c.keep_sent, absl::Hours(1));
}

TEST(NotificationConfigTest, NamesEveryBadSettingAtOnce) {
  const std::string error = ErrorOf({
      {"NOTIFY_PACING", "maybe"},
      {"NOTIFY_TELEGRAM_BOT_PER_SECOND", "0"},
      {"NOTIFY_TELEGRAM_CHAT_INTERVAL_MS", "-1"},
      {"NOTIFY_WHATSAPP_PER_SECOND", "fast"},
      {"NOTIFY_RETRY_DELAYS_MS", "0,5s,30000"},
      {"NOTIFY_EDIT_WAIT_MS", "60001"},
      {"NOTIFY_DLQ_ALERT_THRESHOLD", "-1"},
      {"NOTIFY_DLQ_ALERT_WINDOW_MS", "x"},
      {"NOTIFY_SEND_THREADS", "0"},
      {"NOTIFY_KEEP_SENT_MS", "1.5"},
      {"WHATSAPP_TOKEN", "wa-token"},
      {"TELEGRAM_API_BASE_URL", "ftp://api.telegram.org"},
  });
  for (const char* name :
       {"NOTIFY_PACING", "NOTIFY_TELEGRAM_BOT_PER_SECOND", "NOTIFY_TELEGRAM_CHAT_INTERVAL_MS",
        "NOTIFY_WHATSAPP_PER_SECOND", "NOTIFY_RETRY_DELAYS_MS", "NOTIFY_EDIT_WAIT_MS",
        "NOTIFY_DLQ_ALERT_THRESHOLD", "NOTIFY_DLQ_ALERT_WINDOW_MS", "NOTIFY_SEND_THREADS",
        "NOTIFY_KEEP_SENT_MS", "WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID go together",
        "TELEGRAM_API_BASE_URL must start with https:// or http://"}) {
    EXPECT_THAT(error, HasSubstr(name));
  }
  // A secret's value is never echoed.
  EXPECT_THAT(error, Not(HasSubstr("wa-token")));
}

TEST(NotificationConfigTest, RetryDelays) {
  EXPECT_THAT(
      ErrorOf({{"NOTIFY_RETRY_DELAYS_MS", "0,abc"}}),
      HasSubstr("NOTIFY_RETRY_DELAYS_MS must be comma-separated milliseconds such as 0,5000,30000, got "
                "\"0,abc\""));
  EXPECT_THAT(ErrorOf({{"NOTIFY_RETRY_DELAYS_MS", "-5"}}), HasSubstr("NOTIFY_RETRY_DELAYS_MS"));
  EXPECT_THAT(ErrorOf({{"NOTIFY_RETRY_DELAYS_MS", "3600001"}}), HasSubstr("NOTIFY_RETRY_DELAYS_MS"));
  EXPECT_THAT(Load({{"NOTIFY_RETRY_DELAYS_MS", "3600000"}}).retry_delays, ElementsAre(absl::Hours(1)));
  EXPECT_THAT(Load({{"NOTIFY_RETRY_DELAYS_MS", "250"}}).retry_delays, ElementsAre(absl::Milliseconds(250)));
  // Empty counts as unset: the defaults stay.
  EXPECT_THAT(Load({{"NOTIFY_RETRY_DELAYS_MS", ""}}).retry_delays,
              ElementsAre(absl::ZeroDuration(), absl::Seconds(5), absl::Seconds(30)));
}

TEST(NotificationConfigTest, LeaseMustExceedTwiceTheProviderTimeout) {
  EXPECT_THAT(ErrorOf({{"NOTIFY_LEASE_MS", "20000"}}),
              HasSubstr("NOTIFY_LEASE_MS must be more than twice NOTIFY_PROVIDER_TIMEOUT_MS"));
  EXPECT_THAT(ErrorOf({{"NOTIFY_PROVIDER_TIMEOUT_MS", "30000"}}), HasSubstr("NOTIFY_LEASE_MS"));
  EXPECT_EQ(Load({{"NOTIFY_LEASE_MS", "20001"}}).lease, absl::Milliseconds(20001));
}

TEST(NotificationConfigTest, ChatIntervalMustBePositive) {
  EXPECT_THAT(ErrorOf({{"NOTIFY_TELEGRAM_CHAT_INTERVAL_MS", "0"}}),
              HasSubstr("NOTIFY_TELEGRAM_CHAT_INTERVAL_MS must be above 0"));
}

TEST(NotificationConfigTest, WhatsAppTokenAndNumberGoTogether) {
  EXPECT_THAT(ErrorOf({{"WHATSAPP_TOKEN", "t"}}),
              HasSubstr("WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID go together"));
  EXPECT_THAT(ErrorOf({{"WHATSAPP_PHONE_NUMBER_ID", "1"}}),
              HasSubstr("WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID go together"));
}

TEST(NotificationConfigTest, BaseUrls) {
  EXPECT_THAT(ErrorOf({{"TELEGRAM_API_BASE_URL", "api.telegram.org"}}),
              HasSubstr("TELEGRAM_API_BASE_URL must start with https:// or http://"));
  EXPECT_THAT(ErrorOf({{"WHATSAPP_API_BASE_URL", "graph.facebook.com"}}),
              HasSubstr("WHATSAPP_API_BASE_URL must start with https:// or http://"));
  EXPECT_EQ(Load({{"TELEGRAM_API_BASE_URL", "https://tg.example/"}}).telegram_api_base_url,
            "https://tg.example");
}

TEST(NotificationConfigTest, BotsAreRequiredOutsideDev) {
  EXPECT_THAT(Load({}, kernel::AppEnv::kDev).bots.bots(), IsEmpty());
  EXPECT_THAT(ErrorOf({}, kernel::AppEnv::kStaging),
              HasSubstr("TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET are required in staging"));
  EXPECT_THAT(ErrorOf({}, kernel::AppEnv::kProd),
              HasSubstr("TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET are required in prod"));
  std::map<std::string, std::string> prod = WithBot();
  EXPECT_THAT(ErrorOf(prod, kernel::AppEnv::kProd),
              HasSubstr("PUBLIC_BASE_URL (the edge's public address, for SetWebhooks) is required in prod"));
  prod["PUBLIC_BASE_URL"] = "https://protectogram.example/";
  const NotificationConfig loaded = Load(prod, kernel::AppEnv::kProd);
  EXPECT_EQ(loaded.bots.bots().size(), 1u);
  EXPECT_EQ(loaded.public_base_url, "https://protectogram.example");
  // A bot that is half configured is an error in every environment.
  EXPECT_THAT(ErrorOf({{"TELEGRAM_BOT_TOKEN", "111:AAA"}}), HasSubstr("TELEGRAM_WEBHOOK_SECRET"));
  EXPECT_THAT(ErrorOf({{"TG_TOKEN_OPS", "222:BBB"}}), HasSubstr("TG_WEBHOOK_SECRET_OPS"));
}

// --- pacing ---

TEST(NotificationConfigTest, PaceLimits) {
  const NotificationConfig c = Load(WithBot());
  const jobs::PaceLimits limits = c.PaceLimits();
  ASSERT_FALSE(limits.empty());

  const std::optional<jobs::PaceLimit> bot = limits.For("tg:main");
  ASSERT_TRUE(bot.has_value());
  EXPECT_EQ(bot->interval, absl::Seconds(1.0 / 30));
  EXPECT_EQ(bot->burst, 1);

  const std::optional<jobs::PaceLimit> chat = limits.For("tg:main:123");
  ASSERT_TRUE(chat.has_value());
  EXPECT_EQ(chat->interval, absl::Seconds(1));
  EXPECT_EQ(chat->burst, 1);
  ASSERT_TRUE(limits.For("tg:main:-100500").has_value());
  EXPECT_EQ(limits.For("tg:main:-100500")->interval, absl::Seconds(1));

  const std::optional<jobs::PaceLimit> whatsapp = limits.For("wa:x");
  ASSERT_TRUE(whatsapp.has_value());
  EXPECT_EQ(whatsapp->interval, absl::Seconds(1.0 / 80));
  EXPECT_EQ(whatsapp->burst, 1);

  // An unconfigured bot has no bucket (its messages are refused before they are stored).
  EXPECT_FALSE(limits.For("tg:other").has_value());
  EXPECT_FALSE(limits.For("tg:other:1").has_value());
}

TEST(NotificationConfigTest, PaceLimitsFollowTheSettings) {
  const NotificationConfig c = Load(WithBot({{"TG_TOKEN_OPS", "222:BBB"},
                                             {"TG_WEBHOOK_SECRET_OPS", "secret_2"},
                                             {"NOTIFY_TELEGRAM_BOT_PER_SECOND", "10"},
                                             {"NOTIFY_TELEGRAM_CHAT_INTERVAL_MS", "3000"},
                                             {"NOTIFY_WHATSAPP_PER_SECOND", "20"}}));
  const jobs::PaceLimits limits = c.PaceLimits();
  for (const char* bot : {"tg:main", "tg:ops"}) {
    ASSERT_TRUE(limits.For(bot).has_value()) << bot;
    EXPECT_EQ(limits.For(bot)->interval, absl::Milliseconds(100)) << bot;
    ASSERT_TRUE(limits.For(std::string(bot) + ":7").has_value()) << bot;
    EXPECT_EQ(limits.For(std::string(bot) + ":7")->interval, absl::Seconds(3)) << bot;
  }
  ASSERT_TRUE(limits.For("wa:1").has_value());
  EXPECT_EQ(limits.For("wa:1")->interval, absl::Milliseconds(50));
}

TEST(NotificationConfigTest, PacingOffLiftsEveryLimit) {
  const NotificationConfig c = Load(WithBot({{"NOTIFY_PACING", "false"}}));
  const jobs::PaceLimits limits = c.PaceLimits();
  EXPECT_TRUE(limits.empty());
  EXPECT_FALSE(limits.For("tg:main").has_value());
  EXPECT_FALSE(limits.For("tg:main:1").has_value());
  EXPECT_FALSE(limits.For("wa:x").has_value());
}

// Claims `messages` (single-part Telegram messages of bot "main", in queue order) under the production
// limits on a simulated clock stepped by 10 ms, taking whatever each plan allows, the way the outbox relay
// does: returns each message's send time.
std::vector<absl::Time> SimulateClaims(const std::vector<Outgoing>& messages, const jobs::PaceLimits& limits,
                                       absl::Time start) {
  std::vector<absl::Time> sent(messages.size(), absl::InfinitePast());
  std::deque<size_t> queue;
  for (size_t i = 0; i < messages.size(); ++i) queue.push_back(i);
  std::map<std::string, absl::Time> tats;
  absl::Time now = start;
  for (int step = 0; step < 100'000 && !queue.empty(); ++step, now += absl::Milliseconds(10)) {
    std::vector<jobs::PaceCandidate> candidates;
    for (size_t i : queue) {
      candidates.push_back({.id = static_cast<int64_t>(i),
                            .keys = messages[i].PaceKeys(""),
                            .costs = messages[i].PaceCosts()});
    }
    const jobs::PacePlan plan = jobs::PlanPacedClaim(candidates, tats, limits, now, /*limit=*/16);
    for (const auto& [key, tat] : plan.tats) tats[key] = tat;
    std::vector<size_t> chosen;
    for (size_t c : plan.chosen) {
      const size_t i = static_cast<size_t>(candidates[c].id);
      sent[i] = now;
      chosen.push_back(i);
    }
    for (const auto& [c, when] : plan.deferred) EXPECT_GT(when, now);
    std::erase_if(queue,
                  [&](size_t i) { return std::find(chosen.begin(), chosen.end(), i) != chosen.end(); });
  }
  EXPECT_TRUE(queue.empty()) << queue.size() << " messages never sent";
  return sent;
}

std::vector<Outgoing> Messages(int count, int chats) {
  std::vector<Outgoing> messages;
  for (int i = 0; i < count; ++i) {
    Outgoing o;
    o.kind = v1::DELIVERY_KIND_MESSAGE;
    o.channel = v1::CHANNEL_TELEGRAM;
    o.bot_id = "main";
    o.chat_id = std::to_string(1000 + i % chats);
    o.bodies = {R"({"text":"x"})"};
    messages.push_back(std::move(o));
  }
  return messages;
}

// Telegram's limits (docs/providers.md): at most one message a second to a chat, about 30 a second per bot.
void ExpectWithinTelegramLimits(const std::vector<Outgoing>& messages, const std::vector<absl::Time>& sent) {
  std::map<std::string, std::vector<absl::Time>> by_chat;
  for (size_t i = 0; i < messages.size(); ++i) by_chat[messages[i].chat_id].push_back(sent[i]);
  for (const auto& [chat, times] : by_chat) {
    // In queue order (a chat's messages never overtake each other), at least 1 s apart.
    for (size_t k = 1; k < times.size(); ++k) {
      EXPECT_GE(times[k] - times[k - 1], absl::Seconds(1)) << "chat " << chat << " message " << k;
    }
  }
  std::vector<absl::Time> all = sent;
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size(); ++i) {
    const size_t in_window =
        std::lower_bound(all.begin(), all.end(), all[i] + absl::Seconds(1)) - (all.begin() + i);
    EXPECT_LE(in_window, 30u) << "the second from " << all[i];
  }
}

TEST(NotificationPacingTest, DefaultsKeepTelegramsLimitsForTenChats) {
  const NotificationConfig c = Load(WithBot());
  const std::vector<Outgoing> messages = Messages(100, 10);
  const absl::Time start = absl::FromUnixSeconds(1'800'000'000);
  const std::vector<absl::Time> sent = SimulateClaims(messages, c.PaceLimits(), start);
  ExpectWithinTelegramLimits(messages, sent);
  // The chat limit is what binds: ten messages per chat take nine seconds, and not much more.
  const absl::Time last = *std::max_element(sent.begin(), sent.end());
  EXPECT_GE(last - start, absl::Seconds(9));
  EXPECT_LE(last - start, absl::Seconds(10));
}

TEST(NotificationPacingTest, DefaultsKeepTheBotLimitForManyChats) {
  const NotificationConfig c = Load(WithBot());
  const std::vector<Outgoing> messages = Messages(100, 100);
  const absl::Time start = absl::FromUnixSeconds(1'800'000'000);
  const std::vector<absl::Time> sent = SimulateClaims(messages, c.PaceLimits(), start);
  ExpectWithinTelegramLimits(messages, sent);
  // The bot limit binds: 100 messages need more than 3 s at 30/s.
  const absl::Time last = *std::max_element(sent.begin(), sent.end());
  EXPECT_GE(last - start, absl::Seconds(3));
  EXPECT_LE(last - start, absl::Seconds(5));
}

}  // namespace
}  // namespace protectogram::notification
