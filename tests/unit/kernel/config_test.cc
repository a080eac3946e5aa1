#include "libs/kernel/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libs/kernel/log.h"

namespace protectogram::kernel {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(const MapEnv& env, const ServiceDefaults& defaults = IncidentDefaults()) {
  absl::StatusOr<ProcessConfig> config = LoadProcessConfig(env, defaults);
  if (config.ok()) return "<ok>";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ProcessConfigTest, DevHasSafeDefaults) {
  absl::StatusOr<ProcessConfig> config = LoadProcessConfig(MapEnv(), IncidentDefaults());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->service, "incident");
  EXPECT_EQ(config->app_env, AppEnv::kDev);
  EXPECT_EQ(config->log_level, "info");
  EXPECT_TRUE(config->metrics_enabled);
  EXPECT_EQ(config->database_url, "postgresql://127.0.0.1:5432/protectogram");
  EXPECT_EQ(config->database_direct_url, "");
  EXPECT_EQ(config->admin_token, "dev-admin-token");
  EXPECT_EQ(config->db_pool_size, 4);
  EXPECT_EQ(config->grpc_port, 50051);
  EXPECT_EQ(config->metrics_port, 9101);
  EXPECT_FALSE(config->http_port.has_value());
  EXPECT_EQ(config->shutdown_grace, absl::Milliseconds(5000));
}

TEST(ProcessConfigTest, EachServiceHasItsPorts) {
  auto notification = LoadProcessConfig(MapEnv(), NotificationDefaults());
  auto telephony = LoadProcessConfig(MapEnv(), TelephonyDefaults());
  auto edge = LoadProcessConfig(MapEnv(), EdgeDefaults());
  ASSERT_TRUE(notification.ok() && telephony.ok() && edge.ok());
  EXPECT_EQ(notification->grpc_port, 50052);
  EXPECT_EQ(notification->metrics_port, 9102);
  EXPECT_EQ(telephony->grpc_port, 50053);
  EXPECT_EQ(telephony->metrics_port, 9103);
  EXPECT_EQ(edge->http_port, 8080);
  EXPECT_FALSE(edge->grpc_port.has_value());
  EXPECT_FALSE(edge->metrics_port.has_value());
}

TEST(ProcessConfigTest, ReadsEverySetting) {
  MapEnv env({{"APP_ENV", "prod"},
              {"LOG_LEVEL", "debug"},
              {"METRICS_ENABLED", "false"},
              {"METRICS_PORT", "9999"},
              {"ADMIN_TOKEN", "s3cret-admin-token-value"},
              {"DATABASE_URL", "postgresql://u:pw-12345@db:5432/p"},
              {"DATABASE_DIRECT_URL", "postgresql://u:pw-12345@db-direct:5432/p"},
              {"DB_POOL_SIZE", "12"},
              {"GRPC_PORT", "0"},
              {"SHUTDOWN_GRACE_MS", "250"}});
  absl::StatusOr<ProcessConfig> config = LoadProcessConfig(env, IncidentDefaults());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->app_env, AppEnv::kProd);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_FALSE(config->metrics_enabled);
  EXPECT_EQ(config->metrics_port, 9999);
  EXPECT_EQ(config->admin_token, "s3cret-admin-token-value");
  EXPECT_EQ(config->database_url, "postgresql://u:pw-12345@db:5432/p");
  EXPECT_EQ(config->database_direct_url, "postgresql://u:pw-12345@db-direct:5432/p");
  EXPECT_EQ(config->db_pool_size, 12);
  EXPECT_EQ(config->grpc_port, 0);
  EXPECT_EQ(config->shutdown_grace, absl::Milliseconds(250));
}

TEST(ProcessConfigTest, StagingAndProdRequireDatabaseAndAdminToken) {
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "staging"}})), "ADMIN_TOKEN is required; DATABASE_URL is required");
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "prod"}, {"ADMIN_TOKEN", "a-real-token-123"}})),
            "DATABASE_URL is required");
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "prod"}, {"DATABASE_URL", "postgresql://db/p"}})),
            "ADMIN_TOKEN is required");
  // An empty value is unset.
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "prod"}, {"DATABASE_URL", ""}, {"ADMIN_TOKEN", "a-real-token-123"}})),
            "DATABASE_URL is required");
}

TEST(ProcessConfigTest, ProdRefusesPlaceholderAdminTokens) {
  EXPECT_EQ(ErrorOf(MapEnv(
                {{"APP_ENV", "prod"}, {"DATABASE_URL", "postgresql://db/p"}, {"ADMIN_TOKEN", "change-me"}})),
            "ADMIN_TOKEN must be a real secret in prod, not the placeholder from the examples");
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "staging"},
                            {"DATABASE_URL", "postgresql://db/p"},
                            {"ADMIN_TOKEN", "dev-admin-token"}})),
            "ADMIN_TOKEN must be a real secret in staging, not the placeholder from the examples");
}

TEST(ProcessConfigTest, MalformedValuesNameTheVariableAndValue) {
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "production"}})),
            "APP_ENV must be one of dev, staging, prod, got \"production\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"GRPC_PORT", "abc"}})), "GRPC_PORT must be a port number, got \"abc\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"GRPC_PORT", "65536"}})), "GRPC_PORT must be a port number, got \"65536\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"GRPC_PORT", "-1"}})), "GRPC_PORT must be a port number, got \"-1\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"GRPC_PORT", " 80"}})), "GRPC_PORT must be a port number, got \" 80\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"METRICS_PORT", "9101x"}})),
            "METRICS_PORT must be a port number, got \"9101x\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"HTTP_PORT", "http"}}), EdgeDefaults()),
            "HTTP_PORT must be a port number, got \"http\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"LOG_LEVEL", "verbose"}})),
            "LOG_LEVEL must be one of debug, info, warn, error, got \"verbose\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"METRICS_ENABLED", "maybe"}})),
            "METRICS_ENABLED must be true or false, got \"maybe\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"DB_POOL_SIZE", "0"}})),
            "DB_POOL_SIZE must be an integer between 1 and 1000, got \"0\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"DB_POOL_SIZE", "four"}})),
            "DB_POOL_SIZE must be an integer between 1 and 1000, got \"four\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"SHUTDOWN_GRACE_MS", "-1"}})),
            "SHUTDOWN_GRACE_MS must be a number of milliseconds between 0 and 600000, got \"-1\"");
  EXPECT_EQ(ErrorOf(MapEnv({{"SHUTDOWN_GRACE_MS", "5s"}})),
            "SHUTDOWN_GRACE_MS must be a number of milliseconds between 0 and 600000, got \"5s\"");
}

TEST(ProcessConfigTest, UnknownAppEnvReportsOnlyThat) {
  // No "DATABASE_URL is required" guesswork when we cannot tell dev from prod.
  EXPECT_EQ(ErrorOf(MapEnv({{"APP_ENV", "Prod"}})),
            "APP_ENV must be one of dev, staging, prod, got \"Prod\"");
}

TEST(ProcessConfigTest, EveryErrorIsReportedOnOneLine) {
  std::string error = ErrorOf(MapEnv({{"APP_ENV", "prod"}, {"GRPC_PORT", "abc"}, {"LOG_LEVEL", "loud\nx"}}));
  EXPECT_EQ(error,
            "LOG_LEVEL must be one of debug, info, warn, error, got \"loud?x\"; GRPC_PORT must be a port "
            "number, got "
            "\"abc\"; ADMIN_TOKEN is required; DATABASE_URL is required");
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(ProcessConfigTest, LongValuesAreCutInMessages) {
  std::string error = ErrorOf(MapEnv({{"GRPC_PORT", std::string(500, '9')}}));
  EXPECT_EQ(error, "GRPC_PORT must be a port number, got \"" + std::string(64, '9') + "...\"");
}

TEST(ProcessConfigTest, PortsMustNotCollide) {
  EXPECT_EQ(ErrorOf(MapEnv({{"GRPC_PORT", "9000"}, {"METRICS_PORT", "9000"}})),
            "METRICS_PORT must differ from GRPC_PORT (both 9000)");
  // Two zeros both pick free ports: fine.
  EXPECT_EQ(ErrorOf(MapEnv({{"GRPC_PORT", "0"}, {"METRICS_PORT", "0"}})), "<ok>");
}

TEST(ProcessConfigTest, SecretsAreRegistered) {
  ClearSecretsForTest();
  MapEnv env({{"APP_ENV", "prod"},
              {"ADMIN_TOKEN", "adm1n-t0ken-xyz"},
              {"DATABASE_URL", "postgresql://svc:db-pa55word@db:5432/p"}});
  ASSERT_TRUE(LoadProcessConfig(env, IncidentDefaults()).ok());
  EXPECT_EQ(RedactSecrets("token adm1n-t0ken-xyz"), "token [redacted]");
  EXPECT_EQ(RedactSecrets("pw db-pa55word"), "pw [redacted]");
  ClearSecretsForTest();
}

TEST(ConfigReaderTest, TypedGetters) {
  MapEnv env({{"A_BOOL", "YES"},
              {"B_BOOL", "off"},
              {"DUR", "1m30s"},
              {"BAD_DUR", "soon"},
              {"INT", "-5"},
              {"MODE", "fast"}});
  ConfigReader reader(env);
  EXPECT_TRUE(reader.Bool("A_BOOL", false));
  EXPECT_FALSE(reader.Bool("B_BOOL", true));
  EXPECT_TRUE(reader.Bool("MISSING", true));
  EXPECT_EQ(reader.Duration("DUR", absl::Seconds(1)), absl::Seconds(90));
  EXPECT_EQ(reader.Duration("MISSING", absl::Seconds(1)), absl::Seconds(1));
  EXPECT_EQ(reader.Duration("BAD_DUR", absl::Seconds(1)), absl::Seconds(1));
  EXPECT_EQ(reader.Int("INT", 0, -10, 10), -5);
  enum class Mode { kFast, kSlow };
  EXPECT_EQ(reader.Enum<Mode>("MODE", {{"fast", Mode::kFast}, {"slow", Mode::kSlow}}, Mode::kSlow),
            Mode::kFast);
  EXPECT_EQ(reader.Optional("MISSING", "dflt"), "dflt");
  EXPECT_EQ(reader.Required("ALSO_MISSING"), "");
  EXPECT_EQ(reader.errors().size(), 2u);
  EXPECT_EQ(reader.errors()[0], "BAD_DUR must be a duration such as 5s or 250ms, got \"soon\"");
  EXPECT_EQ(reader.errors()[1], "ALSO_MISSING is required");
  EXPECT_EQ(reader.Finish().message(),
            "BAD_DUR must be a duration such as 5s or 250ms, got \"soon\"; ALSO_MISSING is required");
}

TEST(ConfigReaderTest, SecretGettersRegisterAndNeverEcho) {
  ClearSecretsForTest();
  MapEnv env({{"TELNYX_API_KEY", "KEY0123456789"}});
  ConfigReader reader(env);
  EXPECT_EQ(reader.RequiredSecret("TELNYX_API_KEY"), "KEY0123456789");
  reader.RequiredSecret("TWILIO_AUTH_TOKEN");
  EXPECT_EQ(reader.Finish().message(), "TWILIO_AUTH_TOKEN is required");
  EXPECT_EQ(RedactSecrets("key=KEY0123456789"), "key=[redacted]");
  ClearSecretsForTest();
}

TEST(ConfigTest, RegisterSecretsFromEnvByName) {
  ClearSecretsForTest();
  MapEnv env({{"TELEGRAM_BOT_TOKEN", "tg-token-value"},
              {"WHATSAPP_APP_SECRET", "wa-secret-value"},
              {"ARI_PASSWORD", "ari-pass-value"},
              {"SOME_URL", "https://user:url-pass-value@host/x"},
              {"PUBLIC_BASE_URL", "https://example.org"},
              {"FEATURE_KEY", "true"},
              {"OPERATOR_TOKEN_ID", "123456789"}});
  RegisterSecretsFromEnv(env);
  // A guess by name only takes credential-like values.
  EXPECT_EQ(RedactSecrets("ok=true chat=123456789"), "ok=true chat=123456789");
  EXPECT_EQ(RedactSecrets("tg-token-value wa-secret-value ari-pass-value url-pass-value"),
            "[redacted] [redacted] [redacted] [redacted]");
  EXPECT_EQ(RedactSecrets("https://example.org"), "https://example.org");
  ClearSecretsForTest();
}

TEST(ConfigDeathTest, ExitWithConfigErrorPrintsOneLineAndExits2) {
  EXPECT_EXIT(ExitWithConfigError(absl::InvalidArgumentError("DATABASE_URL is required")),
              ::testing::ExitedWithCode(2), "^config error: DATABASE_URL is required\n$");
  EXPECT_EXIT(ConfigOrExit(LoadProcessConfig(MapEnv({{"GRPC_PORT", "abc"}}), IncidentDefaults())),
              ::testing::ExitedWithCode(2), "^config error: GRPC_PORT must be a port number, got \"abc\"\n$");
}

TEST(ProcessConfigTest, BindAddressIsAnIpLiteral) {
  absl::StatusOr<ProcessConfig> fallback = LoadProcessConfig(MapEnv(), IncidentDefaults());
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->bind_address, "0.0.0.0");
  for (std::string_view address : {"::", "127.0.0.1", "::1", "fdaa:0:18:a7b:7d:f066:b83b:2"}) {
    absl::StatusOr<ProcessConfig> config =
        LoadProcessConfig(MapEnv{{"BIND_ADDRESS", std::string(address)}}, EdgeDefaults());
    ASSERT_TRUE(config.ok()) << address << ": " << config.status();
    EXPECT_EQ(config->bind_address, address);
  }
  // Brackets, ports and names are what a listener cannot take as an address.
  for (std::string_view bad : {"[::]", "0.0.0.0:80", "localhost", "fly-local-6pn", "1.2.3"}) {
    EXPECT_EQ(ErrorOf(MapEnv{{"BIND_ADDRESS", std::string(bad)}}),
              "BIND_ADDRESS must be an IP address such as 0.0.0.0 or :: (no brackets), got \"" +
                  std::string(bad) + "\"");
  }
}

TEST(CommandLineTest, CheckConfigRunsInCheckMode) {
  EXPECT_FALSE(ParseCommandLine({}, "protectogram-incident").check_config);

  CommandLine check = ParseCommandLine({"--check-config"}, "protectogram-incident");
  EXPECT_EQ(check.action, CommandLine::Action::kRun);
  EXPECT_TRUE(check.check_config);
  EXPECT_EQ(check.output, "");

  // Given twice it is still one check; --help and --version still win, in any position.
  EXPECT_TRUE(ParseCommandLine({"--check-config", "--check-config"}, "p").check_config);
  CommandLine help = ParseCommandLine({"--check-config", "--help"}, "p");
  EXPECT_EQ(help.action, CommandLine::Action::kExit);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(ParseCommandLine({"--check-config", "--version"}, "p").output,
            "p " + std::string(Version()) + "\n");

  // A bad argument next to it is refused as always: a check must not pass a command line the process refuses.
  for (const std::vector<std::string_view>& args :
       std::vector<std::vector<std::string_view>>{{"--check-config", "--port=1"},
                                                  {"--check", "--check-config"},
                                                  {"--check-config=1"},
                                                  {"check-config"}}) {
    CommandLine refused = ParseCommandLine(args, "p");
    EXPECT_EQ(refused.action, CommandLine::Action::kExit);
    EXPECT_EQ(refused.exit_code, 2);
    EXPECT_FALSE(refused.check_config);
    EXPECT_THAT(refused.output, HasSubstr("p: unknown argument \""));
  }
}

TEST(CommandLineTest, HelpNamesCheckConfigAndThePorts) {
  CommandLine help = ParseCommandLine({"--help"}, "protectogram-incident");
  EXPECT_THAT(help.output, HasSubstr("Usage: protectogram-incident [--help] [--version] [--check-config]\n"));
  EXPECT_THAT(help.output, HasSubstr("  --check-config  load and validate the configuration"));
  EXPECT_THAT(help.output, HasSubstr("BIND_ADDRESS"));
  EXPECT_THAT(help.output, ::testing::Not(HasSubstr("Ports")));  // without defaults, no port line

  // The deployment check parses these lines (tests/deploy/check_deploy.mjs).
  const ServiceDefaults incident = IncidentDefaults();
  EXPECT_THAT(ParseCommandLine({"--help"}, "protectogram-incident", &incident).output,
              HasSubstr("\nPorts (defaults): GRPC_PORT=50051 METRICS_PORT=9101\n"));
  const ServiceDefaults edge = EdgeDefaults();
  EXPECT_THAT(ParseCommandLine({"--help"}, "protectogram-edge", &edge).output,
              HasSubstr("\nPorts (defaults): HTTP_PORT=8080 (metrics and health on HTTP_PORT)\n"));
  const ServiceDefaults notification = NotificationDefaults();
  const ServiceDefaults telephony = TelephonyDefaults();
  EXPECT_THAT(ParseCommandLine({"--help"}, "n", &notification).output,
              HasSubstr("Ports (defaults): GRPC_PORT=50052 METRICS_PORT=9102\n"));
  EXPECT_THAT(ParseCommandLine({"--help"}, "t", &telephony).output,
              HasSubstr("Ports (defaults): GRPC_PORT=50053 METRICS_PORT=9103\n"));
}

TEST(CommandLineTest, OnlyHelpAndVersion) {
  CommandLine run = ParseCommandLine({}, "protectogram-incident");
  EXPECT_EQ(run.action, CommandLine::Action::kRun);

  CommandLine help = ParseCommandLine({"--help"}, "protectogram-incident");
  EXPECT_EQ(help.action, CommandLine::Action::kExit);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("Usage: protectogram-incident [--help] [--version]"));

  CommandLine version = ParseCommandLine({"--version"}, "protectogram-incident");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, "protectogram-incident " + std::string(Version()) + "\n");

  for (std::string_view bad : {"--port=1", "-h", "serve", "--helpme"}) {
    CommandLine refused = ParseCommandLine({bad}, "protectogram-incident");
    EXPECT_EQ(refused.action, CommandLine::Action::kExit);
    EXPECT_EQ(refused.exit_code, 2);
    EXPECT_EQ(refused.output, "protectogram-incident: unknown argument \"" + std::string(bad) +
                                  "\" (only --help, --version and --check-config are accepted; settings come "
                                  "from the environment)\n");
  }
}

}  // namespace
}  // namespace protectogram::kernel
