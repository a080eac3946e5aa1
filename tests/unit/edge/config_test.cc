// EdgeConfig from the environment: defaults, limits, and which missing credential stops which environment.
#include "edge/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "edge/edge.h"
#include "tests/contract/edge/fixtures.h"

namespace protectogram::edge {
namespace {

using testing::AllProvidersEnv;

absl::StatusOr<EdgeConfig> Load(const std::map<std::string, std::string>& values,
                                kernel::AppEnv app_env = kernel::AppEnv::kDev) {
  kernel::MapEnv env(values);
  return LoadEdgeConfig(env, app_env);
}

TEST(EdgeConfigTest, DevWithNothingSetHasSafeDefaultsAndNoProviders) {
  absl::StatusOr<EdgeConfig> config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->body_limit_bytes, 1u << 20);
  EXPECT_EQ(config->header_limit_bytes, 16u * 1024);
  EXPECT_EQ(config->read_timeout, absl::Seconds(10));
  EXPECT_EQ(config->max_connections, 1024u);
  EXPECT_GE(config->handler_threads, 64)
      << "64 concurrent webhooks must be able to wait for a commit at once";
  EXPECT_EQ(config->incident_addr, "127.0.0.1:50051");
  EXPECT_EQ(config->notification_addr, "127.0.0.1:50052");
  EXPECT_EQ(config->telephony_addr, "127.0.0.1:50053");
  EXPECT_FALSE(config->telegram_configured());
  EXPECT_FALSE(config->telnyx_configured());
  EXPECT_FALSE(config->twilio_configured());
  EXPECT_FALSE(config->whatsapp_configured());
  ASSERT_EQ(config->warnings.size(), 1u);
  EXPECT_NE(config->warnings[0].find("TELEGRAM_BOT_TOKEN"), std::string::npos);
}

TEST(EdgeConfigTest, ReadsEveryProviderAndLimit) {
  std::map<std::string, std::string> env = AllProvidersEnv();
  env["PUBLIC_BASE_URL"] = "https://edge.example.org/";
  env["EDGE_BODY_LIMIT_BYTES"] = "65536";
  env["EDGE_HEADER_LIMIT_BYTES"] = "8192";
  env["EDGE_READ_TIMEOUT_MS"] = "2500";
  env["EDGE_MAX_CONNECTIONS"] = "300";
  env["EDGE_HANDLER_THREADS"] = "96";
  env["INCIDENT_ADDR"] = "incident.internal:50051";
  env["STAGING_ALLOWED_CHATS"] = " 1, -1002 ,3";
  absl::StatusOr<EdgeConfig> config = Load(env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->body_limit_bytes, 65536u);
  EXPECT_EQ(config->header_limit_bytes, 8192u);
  EXPECT_EQ(config->read_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(config->max_connections, 300u);
  EXPECT_EQ(config->handler_threads, 96);
  EXPECT_EQ(config->incident_addr, "incident.internal:50051");
  EXPECT_EQ(config->public_base_url, "https://edge.example.org");
  EXPECT_EQ(config->staging_allowed_chats, (std::set<std::string>{"1", "-1002", "3"}));
  ASSERT_EQ(config->bots.bots().size(), 2u);
  EXPECT_NE(config->bots.Find("alpha"), nullptr);
  EXPECT_NE(config->bots.Find("main"), nullptr);
  EXPECT_TRUE(config->telnyx_configured());
  EXPECT_TRUE(config->twilio_configured());
  EXPECT_TRUE(config->whatsapp_configured());
  EXPECT_TRUE(config->warnings.empty());
}

TEST(EdgeConfigTest, HostileClientLimitsHaveSafeDefaultsAndRouteLimitsNeverExceedTheServers) {
  absl::StatusOr<EdgeConfig> config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->request_line_limit_bytes, 8192u);
  EXPECT_EQ(config->header_field_limit_bytes, 8192u);
  EXPECT_EQ(config->header_count_limit, 100u);
  EXPECT_EQ(config->chunk_line_limit_bytes, 1024u);
  EXPECT_EQ(config->chunk_overhead_limit_bytes, 65536u);
  EXPECT_EQ(config->trailer_limit_bytes, 4096u);
  EXPECT_EQ(config->header_timeout, absl::Seconds(5));
  EXPECT_EQ(config->max_connections_per_client, 128u);
  EXPECT_EQ(config->client_ip_header, "");
  EXPECT_EQ(config->telegram_body_limit_bytes, 256u * 1024);
  EXPECT_EQ(config->telnyx_body_limit_bytes, 64u * 1024);
  EXPECT_EQ(config->twilio_body_limit_bytes, 64u * 1024);
  EXPECT_EQ(config->whatsapp_body_limit_bytes, 512u * 1024);
  http::ParserLimits limits = ServerLimits(*config);
  EXPECT_EQ(limits.body, 1u << 20);
  EXPECT_EQ(limits.chunk_line, 1024u);

  config = Load({{"EDGE_BODY_LIMIT_BYTES", "100000"},
                 {"EDGE_TELEGRAM_BODY_LIMIT_BYTES", "200000"},
                 {"EDGE_TWILIO_BODY_LIMIT_BYTES", "2048"},
                 {"EDGE_CLIENT_IP_HEADER", "Fly-Client-IP"},
                 {"EDGE_MAX_CONNECTIONS_PER_CLIENT", "0"},
                 {"EDGE_HEADER_TIMEOUT_MS", "750"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->telegram_body_limit_bytes, 100000u) << "capped by EDGE_BODY_LIMIT_BYTES";
  EXPECT_EQ(config->twilio_body_limit_bytes, 2048u);
  EXPECT_EQ(config->whatsapp_body_limit_bytes, 100000u);
  EXPECT_EQ(config->client_ip_header, "fly-client-ip");
  EXPECT_EQ(config->max_connections_per_client, 0u);
  EXPECT_EQ(config->header_timeout, absl::Milliseconds(750));

  absl::StatusOr<EdgeConfig> bad = Load({{"EDGE_CLIENT_IP_HEADER", "Fly Client: IP"},
                                         {"EDGE_CHUNK_LINE_LIMIT_BYTES", "1"},
                                         {"EDGE_HEADER_TIMEOUT_MS", "0"}});
  ASSERT_FALSE(bad.ok());
  const std::string message(bad.status().message());
  EXPECT_NE(message.find("EDGE_CLIENT_IP_HEADER"), std::string::npos) << message;
  EXPECT_NE(message.find("EDGE_CHUNK_LINE_LIMIT_BYTES"), std::string::npos) << message;
  EXPECT_NE(message.find("EDGE_HEADER_TIMEOUT_MS"), std::string::npos) << message;
}

TEST(EdgeConfigTest, MalformedValuesAreErrorsNamingTheVariable) {
  absl::StatusOr<EdgeConfig> config = Load({{"EDGE_BODY_LIMIT_BYTES", "lots"},
                                            {"EDGE_READ_TIMEOUT_MS", "-1"},
                                            {"INCIDENT_ADDR", "incident"},
                                            {"TELNYX_PUBLIC_KEY", "not-a-key"},
                                            {"PUBLIC_BASE_URL", "edge.example.org"},
                                            {"TELEGRAM_BOT_TOKEN", "123:abc"}});
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  for (const char* name : {"EDGE_BODY_LIMIT_BYTES", "EDGE_READ_TIMEOUT_MS", "INCIDENT_ADDR",
                           "TELNYX_PUBLIC_KEY", "PUBLIC_BASE_URL", "TELEGRAM_WEBHOOK_SECRET"}) {
    EXPECT_NE(message.find(name), std::string::npos) << name << " in: " << message;
  }
  // A secret value is never echoed.
  EXPECT_EQ(message.find("not-a-key"), std::string::npos);
}

TEST(EdgeConfigTest, ProdNeedsTelegramAndTheCredentialsOfConfiguredProviders) {
  absl::StatusOr<EdgeConfig> bare = Load({}, kernel::AppEnv::kProd);
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.status().message().find("TELEGRAM_BOT_TOKEN"), std::string::npos);

  std::map<std::string, std::string> env{{"TELEGRAM_BOT_TOKEN", testing::kMainBotToken},
                                         {"TELEGRAM_WEBHOOK_SECRET", testing::kMainSecret}};
  EXPECT_TRUE(Load(env, kernel::AppEnv::kProd).ok()) << "providers that are not configured are not required";

  env["TELNYX_API_KEY"] = "KEY0123";
  env["TWILIO_ACCOUNT_SID"] = "AC123";
  env["WHATSAPP_TOKEN"] = "EAAG0123";
  absl::StatusOr<EdgeConfig> config = Load(env, kernel::AppEnv::kProd);
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  for (const char* name : {"TELNYX_PUBLIC_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "WHATSAPP_APP_SECRET",
                           "WHATSAPP_VERIFY_TOKEN"}) {
    EXPECT_NE(message.find(name), std::string::npos) << name << " in: " << message;
  }
  // The same in dev is a warning each, and the routes answer 404.
  absl::StatusOr<EdgeConfig> dev = Load(env, kernel::AppEnv::kDev);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->warnings.size(), 5u);
  EXPECT_FALSE(dev->telnyx_configured());
}

TEST(EdgeConfigTest, TelephonyProvidersMakesAProviderConfigured) {
  std::map<std::string, std::string> env{{"TELEGRAM_BOT_TOKEN", testing::kMainBotToken},
                                         {"TELEGRAM_WEBHOOK_SECRET", testing::kMainSecret},
                                         {"TELEPHONY_PROVIDERS", "ari, Telnyx"}};
  absl::StatusOr<EdgeConfig> config = Load(env, kernel::AppEnv::kStaging);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("TELNYX_PUBLIC_KEY"), std::string::npos);
  EXPECT_EQ(config.status().message().find("TWILIO_AUTH_TOKEN"), std::string::npos);
}

TEST(EdgeConfigTest, StagingNeedsItsChatAllowlist) {
  std::map<std::string, std::string> env{{"TELEGRAM_BOT_TOKEN", testing::kMainBotToken},
                                         {"TELEGRAM_WEBHOOK_SECRET", testing::kMainSecret}};
  absl::StatusOr<EdgeConfig> config = Load(env, kernel::AppEnv::kStaging);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("STAGING_ALLOWED_CHATS"), std::string::npos);
  env["STAGING_ALLOWED_CHATS"] = "123456789";
  config = Load(env, kernel::AppEnv::kStaging);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->staging());
}

TEST(EdgeConfigTest, ABotWithoutItsSecretIsAnError) {
  absl::StatusOr<EdgeConfig> config = Load({{"TG_TOKEN_ALPHA", testing::kAlphaBotToken}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("TG_WEBHOOK_SECRET_ALPHA"), std::string::npos) << config.status();
}

}  // namespace
}  // namespace protectogram::edge
