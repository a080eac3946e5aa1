#include "edge/config.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "libs/kernel/log.h"
#include "libs/providers/telnyx/telnyx.h"

namespace protectogram::edge {
namespace {

bool AnySet(const kernel::Env& env, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    if (env.Get(name).has_value()) return true;
  }
  return false;
}

// TELEPHONY_PROVIDERS ("telnyx,twilio,ari") names `provider`.
bool TelephonyProvidersName(const kernel::Env& env, std::string_view provider) {
  std::optional<std::string> list = env.Get("TELEPHONY_PROVIDERS");
  if (!list.has_value()) return false;
  for (absl::string_view item : absl::StrSplit(*list, ',')) {
    if (absl::AsciiStrToLower(absl::StripAsciiWhitespace(item)) == provider) return true;
  }
  return false;
}

// host:port, where host is a name, an IPv4 address or a bracketed IPv6 address.
bool IsHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) return false;
  const std::string_view port = address.substr(colon + 1);
  if (port.size() > 5) return false;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value > 0 && value <= 65535;
}

std::string ServiceAddress(kernel::ConfigReader& reader, std::string_view name, std::string_view fallback) {
  std::string value = reader.Optional(name, fallback);
  if (!IsHostPort(value)) {
    reader.AddError(std::string(name) + " must be host:port, got \"" + value.substr(0, 64) + "\"");
  }
  return value;
}

// A credential the edge needs for `provider`'s webhooks is not set: an error naming it in staging/prod
// ("NAME is required <when> in prod"); in dev a warning, and the provider's routes answer 404.
void Missing(kernel::ConfigReader& reader, EdgeConfig& config, std::string_view names, std::string_view when,
             std::string_view provider) {
  if (config.app_env == kernel::AppEnv::kDev) {
    config.warnings.push_back(std::string(names) + " not set: " + std::string(provider) +
                              " webhooks answer 404 not_configured");
  } else {
    reader.AddError(std::string(names) + " required " + std::string(when) + " in " +
                    std::string(kernel::AppEnvName(config.app_env)));
  }
}

}  // namespace

absl::StatusOr<EdgeConfig> LoadEdgeConfig(const kernel::Env& env, kernel::AppEnv app_env) {
  kernel::ConfigReader reader(env);
  EdgeConfig config;
  config.app_env = app_env;

  config.body_limit_bytes =
      static_cast<size_t>(reader.Int("EDGE_BODY_LIMIT_BYTES", 1 << 20, 1024, int64_t{64} << 20));
  auto bytes = [&reader](std::string_view name, int64_t default_value, int64_t min, int64_t max) {
    return static_cast<size_t>(reader.Int(name, default_value, min, max));
  };
  config.header_limit_bytes = bytes("EDGE_HEADER_LIMIT_BYTES", 16 * 1024, 1024, 1 << 20);
  config.request_line_limit_bytes = bytes("EDGE_REQUEST_LINE_LIMIT_BYTES", 8 * 1024, 256, 1 << 20);
  config.header_field_limit_bytes = bytes("EDGE_HEADER_FIELD_LIMIT_BYTES", 8 * 1024, 256, 1 << 20);
  config.header_count_limit = bytes("EDGE_HEADER_COUNT_LIMIT", 100, 8, 10000);
  config.chunk_line_limit_bytes = bytes("EDGE_CHUNK_LINE_LIMIT_BYTES", 1024, 32, 1 << 20);
  config.chunk_overhead_limit_bytes = bytes("EDGE_CHUNK_OVERHEAD_LIMIT_BYTES", 64 * 1024, 1024, 64 << 20);
  config.trailer_limit_bytes = bytes("EDGE_TRAILER_LIMIT_BYTES", 4 * 1024, 256, 1 << 20);
  config.telegram_body_limit_bytes =
      bytes("EDGE_TELEGRAM_BODY_LIMIT_BYTES", 256 * 1024, 1024, int64_t{64} << 20);
  config.telnyx_body_limit_bytes = bytes("EDGE_TELNYX_BODY_LIMIT_BYTES", 64 * 1024, 1024, int64_t{64} << 20);
  config.twilio_body_limit_bytes = bytes("EDGE_TWILIO_BODY_LIMIT_BYTES", 64 * 1024, 1024, int64_t{64} << 20);
  config.whatsapp_body_limit_bytes =
      bytes("EDGE_WHATSAPP_BODY_LIMIT_BYTES", 512 * 1024, 1024, int64_t{64} << 20);
  for (size_t* route_limit : {&config.telegram_body_limit_bytes, &config.telnyx_body_limit_bytes,
                              &config.twilio_body_limit_bytes, &config.whatsapp_body_limit_bytes}) {
    *route_limit = std::min(*route_limit, config.body_limit_bytes);
  }
  config.header_timeout = reader.Milliseconds("EDGE_HEADER_TIMEOUT_MS", absl::Seconds(5), absl::Minutes(10));
  config.read_timeout = reader.Milliseconds("EDGE_READ_TIMEOUT_MS", absl::Seconds(10), absl::Minutes(10));
  config.idle_timeout = reader.Milliseconds("EDGE_IDLE_TIMEOUT_MS", absl::Seconds(60), absl::Hours(1));
  config.max_connections = static_cast<size_t>(reader.Int("EDGE_MAX_CONNECTIONS", 1024, 1, 1000000));
  config.max_connections_per_client =
      static_cast<size_t>(reader.Int("EDGE_MAX_CONNECTIONS_PER_CLIENT", 128, 0, 1000000));
  config.client_ip_header = absl::AsciiStrToLower(reader.Optional("EDGE_CLIENT_IP_HEADER", ""));
  for (char c : config.client_ip_header) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      reader.AddError("EDGE_CLIENT_IP_HEADER must be a header name, e.g. Fly-Client-IP");
      break;
    }
  }
  config.io_threads = static_cast<int>(reader.Int("EDGE_IO_THREADS", 2, 1, 64));
  config.handler_threads = static_cast<int>(reader.Int("EDGE_HANDLER_THREADS", 128, 1, 4096));
  config.ingest_writers = static_cast<int>(reader.Int("EDGE_INGEST_WRITERS", 2, 1, 16));
  config.ingest_batch_max = static_cast<int>(reader.Int("EDGE_INGEST_BATCH_MAX", 256, 1, 10000));
  config.store_timeout = reader.Milliseconds("EDGE_STORE_TIMEOUT_MS", absl::Seconds(5), absl::Minutes(1));
  config.forward_timeout =
      reader.Milliseconds("EDGE_FORWARD_TIMEOUT_MS", absl::Seconds(5), absl::Seconds(25));
  config.forward_retry_max =
      reader.Milliseconds("EDGE_FORWARD_RETRY_MAX_MS", absl::Seconds(15), absl::Hours(1));
  config.relay_threads = static_cast<int>(reader.Int("EDGE_RELAY_THREADS", 2, 0, 64));
  config.relay_nice = static_cast<int>(reader.Int("EDGE_RELAY_NICE", 10, 0, 19));
  config.ready_timeout =
      reader.Milliseconds("EDGE_READY_TIMEOUT_MS", absl::Milliseconds(500), absl::Seconds(5));
  if (config.read_timeout <= absl::ZeroDuration()) reader.AddError("EDGE_READ_TIMEOUT_MS must be above 0");
  if (config.header_timeout <= absl::ZeroDuration())
    reader.AddError("EDGE_HEADER_TIMEOUT_MS must be above 0");
  if (config.store_timeout <= absl::ZeroDuration()) reader.AddError("EDGE_STORE_TIMEOUT_MS must be above 0");
  if (config.forward_timeout <= absl::ZeroDuration())
    reader.AddError("EDGE_FORWARD_TIMEOUT_MS must be above 0");
  if (config.ready_timeout <= absl::ZeroDuration()) reader.AddError("EDGE_READY_TIMEOUT_MS must be above 0");

  config.incident_addr = ServiceAddress(reader, "INCIDENT_ADDR", "127.0.0.1:50051");
  config.notification_addr = ServiceAddress(reader, "NOTIFICATION_ADDR", "127.0.0.1:50052");
  config.telephony_addr = ServiceAddress(reader, "TELEPHONY_ADDR", "127.0.0.1:50053");

  config.public_base_url = reader.Optional("PUBLIC_BASE_URL", "");
  while (absl::EndsWith(config.public_base_url, "/")) config.public_base_url.pop_back();
  if (!config.public_base_url.empty() && !absl::StartsWith(config.public_base_url, "https://") &&
      !absl::StartsWith(config.public_base_url, "http://")) {
    reader.AddError("PUBLIC_BASE_URL must start with https:// or http://");
  }

  // Telegram: the registry checks the pairs; every token and secret is a secret.
  absl::StatusOr<providers::telegram::BotRegistry> bots =
      providers::telegram::BotRegistry::FromEnv(kernel::TelegramVariables(env));
  if (!bots.ok()) {
    reader.AddError(std::string(bots.status().message()));
  } else {
    config.bots = *std::move(bots);
  }
  if (bots.ok() && config.bots.bots().empty()) {
    Missing(reader, config, "TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET are",
            "(or TG_TOKEN_<ID> and TG_WEBHOOK_SECRET_<ID>)", "telegram");
  }
  const std::string allowed = reader.Optional("STAGING_ALLOWED_CHATS", "");
  for (absl::string_view chat : absl::StrSplit(allowed, ',', absl::SkipWhitespace())) {
    config.staging_allowed_chats.insert(std::string(absl::StripAsciiWhitespace(chat)));
  }
  if (app_env == kernel::AppEnv::kStaging && config.staging_allowed_chats.empty()) {
    reader.AddError(
        "STAGING_ALLOWED_CHATS is required in staging (comma-separated Telegram chat ids; other chats are "
        "stored and ignored)");
  }

  // Telnyx.
  config.telnyx_public_key = reader.OptionalSecret("TELNYX_PUBLIC_KEY", "");
  if (!config.telnyx_public_key.empty()) {
    if (!providers::telnyx::ParsePublicKey(config.telnyx_public_key).ok()) {
      reader.AddError("TELNYX_PUBLIC_KEY must be base64 of a 32-byte Ed25519 public key");
      config.telnyx_public_key.clear();
    }
  } else if (AnySet(env, {"TELNYX_API_KEY", "TELNYX_CONNECTION_ID", "TELNYX_FROM_NUMBER"}) ||
             TelephonyProvidersName(env, "telnyx")) {
    Missing(reader, config, "TELNYX_PUBLIC_KEY is", "when Telnyx is configured", "telnyx");
  }

  // Twilio.
  config.twilio_auth_token = reader.OptionalSecret("TWILIO_AUTH_TOKEN", "");
  const bool twilio_wanted = !config.twilio_auth_token.empty() ||
                             AnySet(env, {"TWILIO_ACCOUNT_SID", "TWILIO_FROM_NUMBER"}) ||
                             TelephonyProvidersName(env, "twilio");
  if (twilio_wanted && config.twilio_auth_token.empty()) {
    Missing(reader, config, "TWILIO_AUTH_TOKEN is", "when Twilio is configured", "twilio");
  }
  if (twilio_wanted && config.public_base_url.empty()) {
    Missing(reader, config, "PUBLIC_BASE_URL is", "when Twilio is configured (its signatures cover the URL)",
            "twilio");
  }

  // WhatsApp Cloud API.
  config.whatsapp_app_secret = reader.OptionalSecret("WHATSAPP_APP_SECRET", "");
  config.whatsapp_verify_token = reader.OptionalSecret("WHATSAPP_VERIFY_TOKEN", "");
  const bool whatsapp_wanted = !config.whatsapp_app_secret.empty() || !config.whatsapp_verify_token.empty() ||
                               AnySet(env, {"WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"});
  if (whatsapp_wanted && config.whatsapp_app_secret.empty()) {
    Missing(reader, config, "WHATSAPP_APP_SECRET is", "when WhatsApp is configured", "whatsapp");
  }
  if (whatsapp_wanted && config.whatsapp_verify_token.empty()) {
    Missing(reader, config, "WHATSAPP_VERIFY_TOKEN is", "when WhatsApp is configured", "whatsapp");
  }

  if (absl::Status status = reader.Finish(); !status.ok()) return status;
  return config;
}

}  // namespace protectogram::edge
