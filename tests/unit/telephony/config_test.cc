#include "services/telephony/config.h"

#include <gtest/gtest.h>

namespace protectogram::telephony {
namespace {

TEST(TelephonyConfigTest, Defaults) {
  kernel::MapEnv env;
  absl::StatusOr<TelephonyConfig> c = LoadTelephonyConfig(env, kernel::AppEnv::kDev);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->providers.empty());
  EXPECT_EQ(c->default_ring_timeout_sec, 25);
  EXPECT_EQ(c->ring_grace, absl::Seconds(10));
  EXPECT_EQ(c->caps.calls_per_hour, 60);
  EXPECT_EQ(c->caps.calls_per_day, 300);
  EXPECT_EQ(c->caps.ring_minutes_per_hour, 60);
  EXPECT_EQ(c->caps.ring_minutes_per_day, 300);
  EXPECT_EQ(c->job_lease, absl::Seconds(30));
}

TEST(TelephonyConfigTest, ProvidersFromCredentialsOrTheList) {
  kernel::MapEnv env;
  env.Set("TWILIO_ACCOUNT_SID", "AC1")
      .Set("TELNYX_API_KEY", "KEY")
      .Set("ARI_HTTP_URL", "http://127.0.0.1:8088");
  EXPECT_EQ(LoadTelephonyConfig(env, kernel::AppEnv::kDev)->providers,
            (std::vector<std::string>{"telnyx", "twilio", "ari"}));
  env.Set("TELEPHONY_PROVIDERS", " ari , Telnyx");
  EXPECT_EQ(LoadTelephonyConfig(env, kernel::AppEnv::kDev)->providers,
            (std::vector<std::string>{"ari", "telnyx"}));
}

TEST(TelephonyConfigTest, ErrorsNameTheVariable) {
  kernel::MapEnv env;
  env.Set("TELEPHONY_PROVIDERS", "telnyx,skype,telnyx")
      .Set("STAGING_ALLOWED_NUMBERS", "+15551234567, 12345")
      .Set("TELEPHONY_RING_TIMEOUT_SEC", "2")
      .Set("TELEPHONY_JOB_LEASE_MS", "1000");
  absl::StatusOr<TelephonyConfig> c = LoadTelephonyConfig(env, kernel::AppEnv::kDev);
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_NE(m.find("skype"), std::string::npos) << m;
  EXPECT_NE(m.find("twice"), std::string::npos) << m;
  EXPECT_NE(m.find("12345"), std::string::npos) << m;
  EXPECT_NE(m.find("TELEPHONY_RING_TIMEOUT_SEC"), std::string::npos) << m;
  EXPECT_NE(m.find("TELEPHONY_JOB_LEASE_MS"), std::string::npos) << m;
}

TEST(TelephonyConfigTest, ProdNeedsAProvider) {
  kernel::MapEnv env;
  absl::StatusOr<TelephonyConfig> c = LoadTelephonyConfig(env, kernel::AppEnv::kProd);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("TELEPHONY_PROVIDERS"), std::string::npos);
}

TEST(TelephonyConfigTest, StagingAllowlistAndCaps) {
  kernel::MapEnv env;
  env.Set("TELEPHONY_PROVIDERS", "telnyx")
      .Set("STAGING_ALLOWED_NUMBERS", "+15551234567,+79991234567")
      .Set("TELEPHONY_MAX_CALLS_PER_HOUR", "0")
      .Set("TELEPHONY_MAX_RING_MINUTES_PER_DAY", "7");
  absl::StatusOr<TelephonyConfig> c = LoadTelephonyConfig(env, kernel::AppEnv::kStaging);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->staging_allowed_numbers.size(), 2u);
  EXPECT_EQ(c->caps.calls_per_hour, 0);
  EXPECT_EQ(c->caps.ring_minutes_per_day, 7);
}

TEST(TelephonyConfigTest, Languages) {
  EXPECT_EQ(NormalizeLanguage("ru", "en-US"), "ru-RU");
  EXPECT_EQ(NormalizeLanguage("RU_ru", "en-US"), "ru-RU");
  EXPECT_EQ(NormalizeLanguage("en-gb", "en-US"), "en-GB");
  EXPECT_EQ(NormalizeLanguage("", "en-US"), "en-US");
  EXPECT_EQ(NormalizeLanguage("de", "en-US"), "de-DE");
}

}  // namespace
}  // namespace protectogram::telephony
